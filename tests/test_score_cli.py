"""`trm score arc|sudoku|maze` and `trm sweep`: outputs and bad input (and paper vs single mode
through `trm compare runs`)."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED, needs_shared

from trm.cli import main
from trm.data.format import DatasetMetadata, array_path, write_metadata
from trm.eval.paired import read_comparisons
from trm.eval.stats import Bootstrap

GOLDEN = SHARED / "golden" / "arc-mini"
DATA = GOLDEN / "upstream-aug-8"
EVAL = GOLDEN / "eval-seed0"
needs_golden = needs_shared(EVAL, reason=f"golden fixtures not found at {GOLDEN}")
CONTRACT_KEYS = [f"ARC/pass@{k}" for k in (1, 2, 5, 10, 100, 1000)]


def load_bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_score.py"
    spec = importlib.util.spec_from_file_location("bench_score", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def synthetic(tmp_path) -> tuple[Path, Path]:
    bench = load_bench()
    data = tmp_path / "data"
    bench.build_synthetic_dataset(data, 4, [3, 5, 2, 4], [1, 2, 1, 1], seed=2, max_side=5)
    bench.synthesize_predictions(data, tmp_path / "predictions.npz", seed=0)
    return data, tmp_path / "predictions.npz"


@needs_golden
def test_score_arc_golden_outputs(tmp_path):
    out = tmp_path / "scores" / "paper"
    rc = main(
        [
            "score",
            "arc",
            "--data",
            str(DATA),
            "--predictions",
            str(EVAL / "preds.npz"),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    expected = json.loads((EVAL / "expected.json").read_text())
    assert list(metrics)[:6] == CONTRACT_KEYS
    assert {k: metrics[k] for k in CONTRACT_KEYS} == expected
    assert (
        metrics["mode"] == "paper" and metrics["n_tasks"] == 12 and metrics["n_test_inputs"] == 12
    )
    for k in CONTRACT_KEYS:
        # one interval layout everywhere: <key>_ci_low, <key>_ci_high, and how it was made
        assert metrics[f"{k}_ci_low"] <= metrics[k] <= metrics[f"{k}_ci_high"]
        # 12 tasks: too few for the percentile bootstrap, so a Wilson interval over tasks
        assert metrics[f"{k}_ci_method"] == "wilson"
        assert metrics[f"{k}_ci_high"] > metrics[f"{k}_ci_low"]
    assert json.loads((out / "submission.json").read_text()) == json.loads(
        (EVAL / "submission.json").read_text()
    )
    golden_records = [json.loads(x) for x in (EVAL / "per_example.jsonl").read_text().splitlines()]
    assert [
        json.loads(x) for x in (out / "per_example.jsonl").read_text().splitlines()
    ] == golden_records
    votes = json.loads((out / "votes.json").read_text())
    assert votes["min"] == votes["max"] == 9 and votes["histogram"] == {"9": 12}
    with open(out / "per_input.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [int(r["pass@1"]) for r in table] == [int(r["top1_correct"]) for r in golden_records]


@needs_golden
def test_single_mode_and_paired_comparison(tmp_path):
    args = ["--data", str(DATA), "--predictions", str(EVAL / "preds.npz"), "--no-progress"]
    assert main(["score", "arc", *args, "--out", str(tmp_path / "paper")]) == 0
    assert main(["score", "arc", *args, "--mode", "single", "--out", str(tmp_path / "single")]) == 0
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    paper = json.loads((tmp_path / "paper" / "metrics.json").read_text())
    assert single["mode"] == "single" and single["effective_votes_min"] == 1
    assert single["ARC/pass@1"] != paper["ARC/pass@1"]
    out = tmp_path / "compare.json"
    argv = [
        "compare",
        "runs",
        "--run",
        f"paper={tmp_path / 'paper'}",
        f"single={tmp_path / 'single'}",
    ]
    assert main([*argv, "--base", "single", "--out", str(out), "--n-boot", "2000"]) == 0
    records = {r["metric"]: r for r in read_comparisons(out)["comparisons"]}
    d2 = records["ARC/pass@2"]
    assert (d2["a"], d2["b"], d2["n"], d2["n_boot"]) == ("paper", "single", 12, 2000)
    assert d2["a_value"] == pytest.approx(paper["ARC/pass@2"])
    assert d2["b_value"] == pytest.approx(single["ARC/pass@2"])
    assert d2["diff"] == pytest.approx(paper["ARC/pass@2"] - single["ARC/pass@2"])
    assert d2["diff_ci_low"] <= d2["diff"] <= d2["diff_ci_high"] and 0 <= d2["p_value"] <= 1


def test_sweep_cli_writes_csv(synthetic, tmp_path):
    data, preds = synthetic
    out = tmp_path / "acc_vs_aug.csv"
    rc = main(
        [
            "sweep",
            "--data",
            str(data),
            "--predictions",
            str(preds),
            "--levels",
            "0,1,4,5",  # 5: the most augmented views a task has (a level above is refused)
            "--out",
            str(out),
            "--draws",
            "2",
            "--n-boot",
            "500",
            "--no-progress",
        ]
    )
    assert rc == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["level"]) for r in rows] == [0, 1, 4, 5]
    assert [int(r["min_votes"]) for r in rows] == [
        1,
        2,
        3,
        3,
    ]  # the smallest task has 2 augmentations
    assert all(int(r["n_test_inputs"]) == 5 for r in rows)


def _expect_error(capsys, argv: list[str], out: Path, *patterns: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    for p in patterns:
        assert p in err, err
    assert not out.exists(), "a failed command must leave no output"
    assert not list(out.parent.glob(f".{out.name}*")), "temporary output left behind"


def test_bad_predictions_are_rejected_without_output(synthetic, tmp_path, capsys):
    data, preds = synthetic
    raw = dict(np.load(preds))
    out = tmp_path / "out" / "scores"

    short = tmp_path / "short.npz"
    np.savez(short, **{k: v[:-1] for k, v in raw.items()})
    _expect_error(
        capsys,
        ["score", "arc", "--data", str(data), "--predictions", str(short), "--out", str(out)],
        out,
        str(short),
        "prediction rows",
        "test examples",
    )

    unknown = tmp_path / "unknown.npz"
    ids = raw["puzzle_identifiers"].copy()
    ids[0] = 10_000
    np.savez(unknown, **{**raw, "puzzle_identifiers": ids})
    _expect_error(
        capsys,
        ["score", "arc", "--data", str(data), "--predictions", str(unknown), "--out", str(out)],
        out,
        "puzzle_identifiers do not match",
        "10000",
    )

    swapped = tmp_path / "swapped.npz"
    ids = raw["puzzle_identifiers"].copy()
    ids[ids == ids[0]] = ids[ids != ids[0]][0]  # right count, wrong identifiers
    np.savez(swapped, **{**raw, "puzzle_identifiers": ids})
    _expect_error(
        capsys,
        ["score", "arc", "--data", str(data), "--predictions", str(swapped), "--out", str(out)],
        out,
        "puzzle_identifiers do not match",
    )

    no_field = tmp_path / "nofield.npz"
    np.savez(no_field, **{k: v for k, v in raw.items() if k != "q_halt_logits"})
    _expect_error(
        capsys,
        ["score", "arc", "--data", str(data), "--predictions", str(no_field), "--out", str(out)],
        out,
        "q_halt_logits",
    )

    _expect_error(
        capsys,
        [
            "score",
            "arc",
            "--data",
            str(data),
            "--predictions",
            str(tmp_path / "nope.npz"),
            "--out",
            str(out),
        ],
        out,
        "predictions file not found",
    )

    not_npz = tmp_path / "bad.npz"
    not_npz.write_text("not a zip")
    _expect_error(
        capsys,
        ["score", "arc", "--data", str(data), "--predictions", str(not_npz), "--out", str(out)],
        out,
        "not a readable .npz",
    )

    csv_out = tmp_path / "out" / "sweep.csv"
    _expect_error(
        capsys,
        [
            "sweep",
            "--data",
            str(data),
            "--predictions",
            str(short),
            "--levels",
            "0,1",
            "--out",
            str(csv_out),
        ],
        csv_out,
        "prediction rows",
    )


@pytest.mark.parametrize(
    "missing",
    ["test_puzzles.json", "identifiers.json", "test/dataset.json", "test/all__puzzle_indices.npy"],
)
def test_missing_dataset_file_is_a_clear_error(synthetic, tmp_path, capsys, missing):
    data, preds = synthetic
    broken = tmp_path / "broken"
    shutil.copytree(data, broken)
    (broken / missing).unlink()
    out = tmp_path / "out"
    _expect_error(
        capsys,
        ["score", "arc", "--data", str(broken), "--predictions", str(preds), "--out", str(out)],
        out,
        "not found",
        Path(missing).name,
    )


def test_existing_output_survives_a_failed_run(synthetic, tmp_path, capsys):
    data, preds = synthetic
    out = tmp_path / "scores"
    assert (
        main(
            [
                "score",
                "arc",
                "--data",
                str(data),
                "--predictions",
                str(preds),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    before = (out / "metrics.json").read_text()
    assert (
        main(
            [
                "score",
                "arc",
                "--data",
                str(data),
                "--predictions",
                str(tmp_path / "nope.npz"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert (out / "metrics.json").read_text() == before


def _grid_dataset(root: Path, labels: np.ndarray, inputs: np.ndarray, ignore: int | None) -> None:
    n = len(labels)
    arrays = {
        "inputs": inputs,
        "labels": labels,
        "puzzle_identifiers": np.zeros(n, dtype=np.int32),
        "puzzle_indices": np.arange(n + 1, dtype=np.int32),
        "group_indices": np.arange(n + 1, dtype=np.int32),
    }
    (root / "test").mkdir(parents=True)
    for k, v in arrays.items():
        np.save(array_path(root, "test", k), v)
    meta = DatasetMetadata(
        pad_id=0,
        ignore_label_id=ignore,
        blank_identifier_id=0,
        vocab_size=11,
        seq_len=labels.shape[1],
        num_puzzle_identifiers=1,
        total_groups=n,
        mean_puzzle_examples=1.0,
        total_puzzles=n,
    )
    write_metadata(root, "test", meta)


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_grid_accuracy(tmp_path, kind, capsys):
    rng = np.random.default_rng(0)
    labels = rng.integers(1, 10, size=(200, 81)).astype(np.uint8)
    labels[:, :5] = 0  # ignored cells: a wrong prediction there does not count
    inputs = rng.integers(0, 10, size=(200, 81)).astype(np.uint8)
    data = tmp_path / "data"
    _grid_dataset(data, labels, inputs, ignore=0)
    preds = labels.astype(np.int32).copy()
    preds[:, :5] = 7
    preds[:50, 10] = 0  # 50 wrong grids, one wrong cell each
    np.savez(
        tmp_path / "p.npz",
        inputs=inputs,
        preds=preds,
        puzzle_identifiers=np.zeros(200, np.int32),
        q_halt_logits=np.zeros(200, np.float32),
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                kind,
                "--data",
                str(data),
                "--predictions",
                str(tmp_path / "p.npz"),
                "--out",
                str(out),
                "--n-boot",
                "1000",
            ]
        )
        == 0
    )
    m = json.loads((out / "metrics.json").read_text())
    name = kind.capitalize()
    assert m[f"{name}/exact_accuracy"] == 0.75
    assert m[f"{name}/cell_accuracy"] == pytest.approx(1 - 50 / (200 * 76))
    lo, hi = m[f"{name}/exact_accuracy_ci_low"], m[f"{name}/exact_accuracy_ci_high"]
    assert lo < 0.75 < hi and m["n_examples"] == 200 and m["n_cells_scored"] == 200 * 76
    assert m[f"{name}/exact_accuracy_ci_method"] == "bootstrap"  # 200 examples, mixed outcomes

    shuffled = tmp_path / "shuffled.npz"
    np.savez(
        shuffled,
        inputs=inputs[::-1],
        preds=preds,
        puzzle_identifiers=np.zeros(200, np.int32),
        q_halt_logits=np.zeros(200, np.float32),
    )
    out2 = tmp_path / "out2"
    _expect_error(
        capsys,
        ["score", kind, "--data", str(data), "--predictions", str(shuffled), "--out", str(out2)],
        out2,
        "row 0",
        "dataset order",
    )
    short = tmp_path / "short.npz"
    np.savez(
        short,
        inputs=inputs[:10],
        preds=preds[:10],
        puzzle_identifiers=np.zeros(10, np.int32),
        q_halt_logits=np.zeros(10, np.float32),
    )
    _expect_error(
        capsys,
        ["score", kind, "--data", str(data), "--predictions", str(short), "--out", str(out2)],
        out2,
        "one row per test example",
    )


def test_all_wrong_grid_accuracy_has_a_non_degenerate_interval(tmp_path):
    """0 right of 4: the bootstrap would say [0, 0]; the scorer states n and a Wilson interval."""
    from trm.eval.scoring import score_grid

    labels = np.full((4, 16), 2, np.uint8)
    data = tmp_path / "data"
    _grid_dataset(data, labels, labels, ignore=0)
    np.savez(
        tmp_path / "p.npz",
        inputs=labels,
        preds=np.full((4, 16), 3, np.int32),
        puzzle_identifiers=np.zeros(4, np.int32),
        q_halt_logits=np.zeros(4, np.float32),
    )
    m = score_grid(data, tmp_path / "p.npz", tmp_path / "out", "Sudoku", boot=Bootstrap(n_boot=200))
    assert m["Sudoku/exact_accuracy"] == 0.0 and m["n_examples"] == 4
    assert m["Sudoku/exact_accuracy_ci_method"] == "wilson"
    assert m["Sudoku/exact_accuracy_ci_low"] == 0.0
    assert m["Sudoku/exact_accuracy_ci_high"] == pytest.approx(0.49, abs=0.01)
