"""`trm prepare arc --canvas N`: ARC grids padded into an N x N canvas instead of 30x30.

The default (30) is the reference layout, byte for byte (the goldens in test_arc_data.py); a
smaller canvas keeps the augmentation draws and identifiers, refuses grids that do not fit, and
everything downstream (crop, hashing, voting, per-step hashes) reads the canvas from the dataset.
Each test here takes well under 10 s on one CPU core.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trm.cli import main as trm_main
from trm.eval.arc import crop_tokens, grid_keys, load_arc_test_set, process_predictions
from trm.eval.arc.hashing import hash_blocks
from trm.eval.predictions import dataset_row_identifiers, write_predictions

ARGS = ["--subsets", "training", "evaluation", "--test-set", "evaluation", "--num-aug", "3"]


def _grid(rng: np.random.RandomState, h: int, w: int) -> list[list[int]]:
    return rng.randint(0, 10, size=(h, w)).tolist()


def _write_tasks(prefix: Path, big: str | None = None) -> None:
    """Kaggle combined files of small tasks (grids up to 5x5; one 6x6 grid in the field `big`)."""
    rng = np.random.RandomState(0)
    for subset, names in (("training", ["aaaa0001", "aaaa0002"]), ("evaluation", ["bbbb0001"])):
        chal, sols = {}, {}
        for k, name in enumerate(names):
            sizes = [(2 + k, 3), (5, 4), (3, 5)]
            train = [{"input": _grid(rng, h, w), "output": _grid(rng, w, h)} for h, w in sizes]
            test_in, test_out = _grid(rng, 4, 4), _grid(rng, 5, 5)
            if name == "bbbb0001" and big == "train[1].output":
                train[1]["output"] = _grid(rng, 6, 6)
            if name == "bbbb0001" and big == "test[0].output":
                test_out = _grid(rng, 3, 6)
            chal[name] = {"test": [{"input": test_in}], "train": train}
            sols[name] = [test_out]
        Path(f"{prefix}_{subset}_challenges.json").write_text(json.dumps(chal))
        Path(f"{prefix}_{subset}_solutions.json").write_text(json.dumps(sols))


def _prepare(prefix: Path, out: Path, *extra: str) -> int:
    return trm_main(
        ["prepare", "arc", "--no-progress", "--input-prefix", str(prefix), *ARGS]
        + ["--out", str(out), *extra]
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same tasks prepared on the reference canvas and on a 6x6 canvas."""
    root = tmp_path_factory.mktemp("canvas")
    prefix = root / "in" / "arc"
    prefix.parent.mkdir()
    _write_tasks(prefix)
    out = {"prefix": prefix}
    for name, extra in (("c30", []), ("c6", ["--canvas", "6"])):
        assert _prepare(prefix, root / name, *extra) == 0
        out[name] = root / name
    return out


def test_explicit_canvas_30_is_the_default_build_byte_for_byte(built, tmp_path: Path) -> None:
    out = tmp_path / "c30"
    assert _prepare(built["prefix"], out, "--canvas", "30") == 0
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(built["c30"]) for p in built["c30"].rglob("*") if p.is_file()
    )
    for f in files:
        if f.name != "manifest.json":  # it records the command line and timings
            assert (out / f).read_bytes() == (built["c30"] / f).read_bytes(), f
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["canvas"] == 30
    assert "reference layout" in manifest["layout"] and "OUTSIDE" not in manifest["layout"]


def test_canvas_6_rows_are_the_reference_rows_on_a_smaller_canvas(built) -> None:
    c30, c6 = built["c30"], built["c6"]
    for split in ("train", "test"):
        meta = json.loads((c6 / split / "dataset.json").read_text())
        assert meta["seq_len"] == 36
        assert meta == {**json.loads((c30 / split / "dataset.json").read_text()), "seq_len": 36}
        for name in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
            a, b = (
                np.load(c30 / split / f"all__{name}.npy"),
                np.load(c6 / split / f"all__{name}.npy"),
            )
            np.testing.assert_array_equal(a, b, err_msg=f"{split}/{name}")
    for name in ("identifiers.json", "test_puzzles.json"):
        assert (c30 / name).read_bytes() == (c6 / name).read_bytes(), name
    # test split: no translation, so a 6x6 row is the 30x30 row's top-left corner
    for name in ("inputs", "labels"):
        big = np.load(c30 / "test" / f"all__{name}.npy").reshape(-1, 30, 30)
        small = np.load(c6 / "test" / f"all__{name}.npy").reshape(-1, 6, 6)
        np.testing.assert_array_equal(big[:, :6, :6], small)
        assert not big[:, 6:, :].any() and not big[:, :, 6:].any()
    # train split: translated within 6x6, so positions differ but every colour cell is kept
    for name in ("inputs", "labels"):
        big = np.load(c30 / "train" / f"all__{name}.npy").astype(np.int64)
        small = np.load(c6 / "train" / f"all__{name}.npy").astype(np.int64)
        assert small.shape == (len(big), 36)
        for a, b in zip(big, small, strict=True):
            np.testing.assert_array_equal(
                np.bincount(a, minlength=12)[2:], np.bincount(b, minlength=12)[2:]
            )
    manifest = json.loads((c6 / "manifest.json").read_text())
    assert manifest["params"]["canvas"] == 6
    assert "OUTSIDE the reference layout" in manifest["layout"]


@pytest.mark.parametrize(
    ("field", "file"), [("train[1].output", "challenges"), ("test[0].output", "solutions")]
)
def test_grid_larger_than_the_canvas_is_refused_leaving_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, file: str
) -> None:
    prefix = tmp_path / "in" / "arc"
    prefix.parent.mkdir()
    _write_tasks(prefix, big=field)
    out = tmp_path / "out" / "arc"
    assert _prepare(prefix, out, "--canvas", "5") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{prefix}_evaluation_{file}.json" in err, err
    assert "task bbbb0001" in err and f"field {field}" in err, err
    assert "larger than the 5x5 canvas" in err, err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())
    # the same files fit a 6x6 canvas
    assert _prepare(prefix, out, "--canvas", "6") == 0


def _perfect_predictions(data: Path, path: Path) -> None:
    """A predictions file whose every answer is the test label (what a perfect model writes)."""
    write_predictions(
        path,
        puzzle_identifiers=dataset_row_identifiers(data).astype(np.int32),
        inputs=np.load(data / "test" / "all__inputs.npy").astype(np.int32),
        preds=np.load(data / "test" / "all__labels.npy").astype(np.int32),
        q_halt_logits=np.zeros(len(dataset_row_identifiers(data)), dtype=np.float32),
    )


@pytest.mark.parametrize("canvas", ["c30", "c6"])
@pytest.mark.parametrize("mode", ["paper", "single"])
def test_labels_as_predictions_score_100_percent(
    built, tmp_path: Path, canvas: str, mode: str
) -> None:
    data = built[canvas]
    _perfect_predictions(data, tmp_path / "p.npz")
    out = tmp_path / "score"
    argv = ["score", "arc", "--data", str(data), "--predictions", str(tmp_path / "p.npz")]
    assert (
        trm_main(argv + ["--out", str(out), "--mode", mode, "--n-boot", "100", "--no-progress"])
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ARC/pass@1"] == 1.0 and metrics["ARC/pass@2"] == 1.0
    submission = json.loads((out / "submission.json").read_text())
    solutions = json.loads((built["prefix"].parent / "arc_evaluation_solutions.json").read_text())
    assert {t: [a["attempt_1"] for a in v] for t, v in submission.items()} == solutions


def test_a_grids_hash_does_not_depend_on_its_canvas(built, tmp_path: Path) -> None:
    processed = {}
    for canvas in ("c30", "c6"):
        _perfect_predictions(built[canvas], tmp_path / f"{canvas}.npz")
        processed[canvas] = process_predictions(built[canvas], tmp_path / f"{canvas}.npz", False)
    a, b = processed["c30"], processed["c6"]
    np.testing.assert_array_equal(a.puzzle_identifiers, b.puzzle_identifiers)
    np.testing.assert_array_equal(a.pred_shape, b.pred_shape)
    np.testing.assert_array_equal(a.pred_keys, b.pred_keys)
    np.testing.assert_array_equal(a.input_index, b.input_index)
    assert (a.input_index >= 0).all()
    # the single-grid helpers agree: same crop from either canvas, same keys as the grid itself
    labels30 = np.load(built["c30"] / "test" / "all__labels.npy")
    labels6 = np.load(built["c6"] / "test" / "all__labels.npy")
    for row30, row6 in zip(labels30, labels6, strict=True):
        grid = crop_tokens(row30)
        np.testing.assert_array_equal(grid, crop_tokens(row6))
        assert grid_keys(grid) == grid_keys(crop_tokens(row6))
    # the per-step hasher of `trm predict --trajectory` hashes as scoring does, on either canvas
    from trm.eval.predict.steps import step_hasher

    for canvas in ("c30", "c6"):
        data = built[canvas]
        ids = dataset_row_identifiers(data)
        tokens = np.load(data / "test" / "all__labels.npy").astype(np.int32)
        steps = step_hasher(data, ids)(0, tokens[None], np.zeros((1, len(ids)), np.float32))
        np.testing.assert_array_equal(steps["step_answer_shape"][:, 0], a.pred_shape)
        np.testing.assert_array_equal(steps["step_answer_hash"][:, 0], a.pred_keys[:, 0])
        ts = load_arc_test_set(data, ids)
        shape, keys = hash_blocks(tokens, ids.astype(np.int64), ts, True, False, "")
        np.testing.assert_array_equal(keys, a.pred_keys)


def test_predictions_of_another_canvas_are_a_clear_error(built, tmp_path: Path, capsys) -> None:
    _perfect_predictions(built["c30"], tmp_path / "p30.npz")
    argv = ["score", "arc", "--data", str(built["c6"]), "--predictions", str(tmp_path / "p30.npz")]
    assert trm_main(argv + ["--out", str(tmp_path / "s"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "p30.npz" in err and "field 'inputs'" in err and "6x6 canvas" in err, err
    assert not (tmp_path / "s").exists()


def test_the_report_says_a_small_canvas_is_outside_the_reference_layout() -> None:
    from trm.report.describe import describe, paper_comparison

    ds = {"name": "g", "kind": "arc", "source": "generated", "num_aug": 8, "canvas": 6}
    text = describe({"dataset": ds, "train": {"preset": "cpu_smoke"}})
    assert "6x6 canvas (outside the reference's 30x30 layout)" in text, text
    assert "canvas" not in describe({"dataset": {**ds, "canvas": 30}})
    paper = {"benchmark": "ARC-AGI-1", "dataset": {"kind": "arc", "canvas": 6}}
    assert any("dataset.canvas = 6" in r for r in paper_comparison(paper).reasons)
