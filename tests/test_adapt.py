"""`trm adapt` (issue 11 section 5): fit the puzzle embeddings of tasks a checkpoint never saw.

A tiny TRM is trained briefly on dataset A (generated training + evaluation tasks), then adapted
to dataset B (the same training tasks + held-out tasks A never saw). The tests assert the
mechanics, not a win: only the new rows change, the loss on the fitted puzzles falls, the result
predicts and compares with the blank-id baseline. Module fixture ~20 s on one CPU thread; each
test below under ~25 s.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from small_datasets import TINY_ARC_MODEL

from trm.cli import main as trm_main
from trm.eval.paired import read_comparisons
from trm.model.checkpoint import read_state_dict
from trm.train import adapt_schema as S
from trm.train.adapt import batch_rows, fit_rows, plan_rows

EMB = "puzzle_emb.weights"
# Cheap settings: 900-token ARC canvases dominate the cost, so a very small model and batch.
MODEL = TINY_ARC_MODEL
TRAIN = [
    "train.global_batch_size=8",
    "train.max_steps=12",
    "train.epochs=1000",
    "train.lr=3e-3",
    "train.lr_warmup_steps=2",
    "train.puzzle_emb_lr=0.1",
    "train.cpu_threads=1",
    "train.checkpoint_every=0",
]
ADAPT = ["--steps", "10", "--batch-size", "8", "--lr", "0.1", "--threads", "1", "--no-progress"]


def _prepare(prefix: Path, subsets: list[str], test_set: str, out: Path) -> Path:
    rc = trm_main(
        ["prepare", "arc", "--no-progress", "--input-prefix", str(prefix), "--subsets", *subsets]
        + ["--test-set", test_set, "--num-aug", "2", "--out", str(out)]
    )
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tasks, datasets A and B, a checkpoint trained on A, and B adapted from it."""
    threads = torch.get_num_threads()
    base = tmp_path_factory.mktemp("adapt")
    tasks = base / "tasks"
    rc = trm_main(
        ["prepare", "arc-tasks", "--out", str(tasks)]
        + ["--tasks", "training=6", "evaluation=3", "heldout=3", "--demos", "3"]
        + ["--families", "colour_map", "fill_background", "keep_colour"]
        + ["--min-size", "2", "--max-size", "3", "--seed", "0"]
    )
    assert rc == 0
    prefix = tasks / "generated"
    a = _prepare(prefix, ["training", "evaluation"], "evaluation", base / "A")
    b = _prepare(prefix, ["training", "heldout"], "heldout", base / "B")
    run = base / "runA"
    assert (
        trm_main(["train", "--no-progress", "--data", str(a), "--out", str(run), *MODEL, *TRAIN])
        == 0
    )
    adapted = base / "adapted"
    common = ["adapt", "--checkpoint", str(run), "--source-data", str(a), "--data", str(b)]
    assert trm_main([*common, "--out", str(adapted), *ADAPT]) == 0
    expanded = base / "expanded"
    assert trm_main([*common, "--out", str(expanded), *ADAPT[:-1], "--steps", "0"]) == 0
    yield {"A": a, "B": b, "run": run, "adapted": adapted, "expanded": expanded, "base": base}
    torch.set_num_threads(threads)


def _names(data: Path) -> list[str]:
    return json.loads((data / "identifiers.json").read_text())


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, the puzzle table under EMB whatever the key prefix."""
    (path,) = folder.glob("step_*")
    return {(EMB if k.endswith(EMB) else k): v for k, v in read_state_dict(path).items()}


def test_plan_matches_names_and_batches_cover_every_row() -> None:
    plan = plan_rows(["<blank>", "a", "b", "c"], ["<blank>", "c", "x", "a", "y"])
    assert plan.copied.tolist() == [0, 1, 3] and plan.copied_from.tolist() == [0, 3, 1]
    assert plan.new.tolist() == [2, 4] and plan.total == 5
    # puzzles 0..3 with ids 5, 7, 9, 7 and 2, 0, 3, 1 examples
    rows, fitted = fit_rows(np.array([5, 7, 9, 7]), np.array([0, 2, 2, 5, 6]), np.array([7, 9]))
    assert rows.tolist() == [2, 3, 4, 5] and fitted.tolist() == [7, 9]
    draws = batch_rows(np.arange(10), 4, seed=1)
    first = np.concatenate([next(draws) for _ in range(5)])  # 20 draws = two shuffled epochs
    assert sorted(first[:10].tolist()) == list(range(10))
    assert sorted(first[10:].tolist()) == list(range(10))


def test_only_new_rows_are_fitted_and_their_loss_falls(setup) -> None:
    source, adapted = _weights(setup["run"]), _weights(setup["adapted"])
    expanded = _weights(setup["expanded"])
    a_names, b_names = _names(setup["A"]), _names(setup["B"])
    a_id = {n: i for i, n in enumerate(a_names)}
    copied = [i for i, n in enumerate(b_names) if n in a_id]
    new = [i for i, n in enumerate(b_names) if n not in a_id]
    assert len(copied) == 1 + 6 * 3 and len(new) == 3 * 3  # blank + training tasks x (1 + 2 aug)
    # every weight is bit-identical to the source checkpoint's
    assert set(adapted) == set(source)
    for key in source:
        if key != EMB:
            assert torch.equal(adapted[key], source[key]), key
    table, src = adapted[EMB], source[EMB]
    assert table.shape == (len(b_names), src.shape[1])
    assert torch.equal(table[copied], src[[a_id[b_names[i]] for i in copied]])
    assert torch.equal(expanded[EMB][copied], table[copied])
    # new rows start as the reference initialises them (zeros), and fitting moved every one
    assert torch.count_nonzero(expanded[EMB][new]) == 0
    assert all(torch.count_nonzero(table[i]) > 0 for i in new)

    summary = json.loads((setup["adapted"] / S.SUMMARY_FILE).read_text())
    assert summary[S.KEY_STEPS] == 10
    assert (summary[S.KEY_ROWS_COPIED], summary[S.KEY_ROWS_NEW]) == (len(copied), len(new))
    assert summary[S.KEY_ROWS_FITTED] == len(new)
    assert summary[S.KEY_FIT_EXAMPLES] == len(new) * 3  # each held-out puzzle's 3 demonstrations
    assert summary[S.KEY_LOSS_AFTER] < summary[S.KEY_LOSS_BEFORE]
    assert summary[S.KEY_WALL_S] > 0 and summary[S.KEY_DEVICE].startswith("cpu")
    unfitted = json.loads((setup["expanded"] / S.SUMMARY_FILE).read_text())
    assert unfitted[S.KEY_LOSS_AFTER] == unfitted[S.KEY_LOSS_BEFORE] == summary[S.KEY_LOSS_BEFORE]


@pytest.fixture(scope="module")
def compared(setup) -> dict[str, Path]:
    """The adapted checkpoint and its blank-id baseline predicted, scored and compared."""
    base, data = setup["base"], setup["B"]
    folder = base / "analysis"  # the workflow's layout: model/, compare_<mode>.json
    shutil.copytree(setup["adapted"], folder / "model")
    for name, ckpt, ids in (
        ("fitted", setup["adapted"], "true"),
        ("blank", setup["adapted"], "blank"),
        ("unfitted_blank", setup["expanded"], "blank"),
    ):
        out = folder / name / "predictions.npz"
        argv = ["predict", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(out)]
        argv += ["--device", "cpu", "--threads", "1", "--no-progress", "--puzzle-ids", ids]
        assert trm_main(argv) == 0
    for name in ("fitted", "blank"):
        for mode in ("paper", "single"):
            argv = ["score", "arc", "--data", str(data), "--mode", mode, "--n-boot", "200"]
            argv += ["--predictions", str(folder / name / "predictions.npz"), "--no-progress"]
            assert trm_main([*argv, "--out", str(folder / name / "scores" / mode)]) == 0
    for mode in ("paper", "single"):
        argv = ["compare", "runs", "--run", f"fitted={folder / 'fitted' / 'scores' / mode}"]
        argv += [
            f"blank={folder / 'blank' / 'scores' / mode}",
            "--base",
            "blank",
            "--n-boot",
            "200",
        ]
        assert trm_main([*argv, "--out", str(folder / f"compare_{mode}.json")]) == 0
    return {"folder": folder}


def _predictions(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_adapted_checkpoint_predicts_and_compares_with_the_blank_baseline(compared) -> None:
    folder = compared["folder"]
    fitted = _predictions(folder / "fitted" / "predictions.npz")
    blank = _predictions(folder / "blank" / "predictions.npz")
    unfitted_blank = _predictions(folder / "unfitted_blank" / "predictions.npz")
    # the blank row and every weight are the source's: fitting cannot change blank-id answers
    for key in ("preds", "q_halt_logits"):
        np.testing.assert_array_equal(blank[key], unfitted_blank[key])
    assert len(fitted["preds"]) == 3 * 3  # the held-out tasks' test inputs, every augmentation
    assert not np.array_equal(fitted["q_halt_logits"], blank["q_halt_logits"])

    records = read_comparisons(folder / "compare_paper.json")["comparisons"]
    (rec,) = [r for r in records if r["metric"] == "ARC/pass@2"]
    assert (rec["a"], rec["b"], rec["n"], rec["unit"]) == ("fitted", "blank", 3, "task")
    assert rec["diff_ci_low"] <= rec["diff"] <= rec["diff_ci_high"]
    assert rec["diff"] == pytest.approx(rec["a_value"] - rec["b_value"])


def test_report_shows_the_adaptation(setup, compared) -> None:
    from trm.report.inputs import ExperimentInputs, ReportInputError
    from trm.report.render import render_html

    folder = compared["folder"]
    scores = {m: setup["base"] / "analysis" / "fitted" / "scores" / m for m in ("paper", "single")}
    exp = ExperimentInputs(
        name="adapt",
        settings={
            "kind": "arc",
            "benchmark": "ARC-AGI-1",
            "num_aug": 2,
            "description": "adapt test",
            "smoke": True,
            "gpus": 0,
        },
        data_dir=str(setup["B"]),
        metrics={m: str(scores[m] / "metrics.json") for m in scores},
        per_example={m: str(scores[m] / "per_example.jsonl") for m in scores},
        analyses={f"analysis_adapt_{m}": str(folder / f"compare_{m}.json") for m in scores},
    )
    templates = Path(__file__).resolve().parents[1] / "reports" / "templates"
    html = render_html([exp], None, templates)
    summary = json.loads((folder / "model" / S.SUMMARY_FILE).read_text())
    assert "Test-time embedding fitting for unseen tasks" in html
    assert f"for {summary[S.KEY_STEPS]} steps" in html
    assert f"{summary[S.KEY_LOSS_BEFORE]:.4f} before, {summary[S.KEY_LOSS_AFTER]:.4f} after" in html
    assert html.count('class="adapt-table"') == 2  # paper and single mode
    table = html.split('class="adapt-table"')[1].split("</table>")[0]
    assert "paper mode, 3 held-out tasks, baseline blank" in table
    assert "<td>fitted</td>" in table and '<td class="num">baseline</td>' in table
    # the summary without a declared key is named
    bad = dict(summary)
    del bad[S.KEY_STEPS]
    (folder / "model" / S.SUMMARY_FILE).write_text(json.dumps(bad))
    try:
        with pytest.raises(ReportInputError, match="adapt.json: missing key 'steps'"):
            render_html([exp], None, templates)
    finally:
        (folder / "model" / S.SUMMARY_FILE).write_text(json.dumps(summary))


def _edited_copy(src: Path, dst: Path, field: str, value: int) -> Path:
    shutil.copytree(src, dst)
    meta_path = dst / "train" / "dataset.json"
    meta = json.loads(meta_path.read_text())
    meta[field] = value
    meta_path.write_text(json.dumps(meta))
    return dst


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("seq_len", 400, "seq_len"),
        ("vocab_size", 13, "vocab_size"),
        ("hidden_size", 64, "hidden_size"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_a_one_line_error(
    setup, tmp_path, capsys, field: str, value: int, named: str
) -> None:
    extra = []
    if field == "hidden_size":  # the dataset fits; the model settings given do not
        data = setup["B"]
        extra = ["--arch-override", f"hidden_size={value}"]
    else:
        data = _edited_copy(setup["B"], tmp_path / "B", field, value)
    out = tmp_path / "out"
    argv = ["adapt", "--checkpoint", str(setup["run"]), "--source-data", str(setup["A"])]
    assert trm_main([*argv, "--data", str(data), "--out", str(out), *ADAPT, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert named in err and str(setup["run"]) in err
    assert ("dataset.json" in err) == (field != "hidden_size")
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # no partial output


def test_wrong_source_dataset_and_foreign_output_are_refused(setup, tmp_path, capsys) -> None:
    argv = ["adapt", "--checkpoint", str(setup["run"]), "--data", str(setup["B"]), *ADAPT]
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "identifiers.json").write_text(json.dumps(["<blank>", "only"]))
    assert trm_main([*argv, "--source-data", str(fake), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "identifiers.json" in err and "puzzle_emb.weights" in err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert trm_main([*argv, "--source-data", str(setup["A"]), "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert "not written by trm, not by `trm adapt`" in err and "refusing" in err
    assert (foreign / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--seed", "-1"], "--seed: -1 is not a valid seed"),
        (["--lr", "nan"], "--lr: nan is not a finite number"),
        (["--lr", "0"], "--lr: 0.0 is not a valid positive number"),
        (["--batch-size", "1e9"], "--batch-size: 1000000000 is not a valid size"),
        (["--steps", "-2"], "--steps: -2 is not a valid count"),
    ],
)
def test_bad_settings_are_one_line_errors_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    out = tmp_path / "out"
    argv = ["adapt", "--checkpoint", str(tmp_path / "ckpt"), "--source-data", str(tmp_path)]
    assert trm_main([*argv, "--data", str(tmp_path), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_fitting_stops_at_the_first_non_finite_loss_and_writes_nothing(
    setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["adapt", "--checkpoint", str(setup["run"]), "--source-data", str(setup["A"])]
    flags = [*ADAPT, "--lr", "1e38", "--weight-decay", "0"]  # finite, but diverges
    assert trm_main([*argv, "--data", str(setup["B"]), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "step " in err and "not finite" in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # no partial output
