"""The one comparison (trm.eval.paired): every source writes the one layout, the reader names
the file, record and key of a bad file, and the report's one table builder shows n, intervals
and their methods. Small synthetic score folders; the sweep reads the golden ARC fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from trm.cli import main
from trm.errors import InputError
from trm.eval import schema as S
from trm.eval.paired import RECORD_KEYS, read_comparisons, write_comparisons

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT.parent / "shared" / "golden" / "arc-mini"
needs_golden = pytest.mark.skipif(
    not (GOLDEN / "eval-seed0").exists(), reason=f"golden ARC fixtures not found at {GOLDEN}"
)
N_TASKS = 40


def _arc_scores(folder: Path, pass_rate: float, seed: int, **metrics: object) -> Path:
    """What `trm score arc` (or `trm llm score`) writes: metrics.json and per_input.csv."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    lines = [",".join([*S.PER_INPUT, "pass@1", "pass@2"])]
    for t in range(N_TASKS):
        for j in range(1 + t % 2):  # some tasks have two test inputs
            p2 = int(rng.random() < pass_rate)
            p1 = p2 * int(rng.random() < 0.7)
            lines.append(f"t{t:02d},{j},1,1,1,{0 if p1 else (1 if p2 else -1)},{p1},{p2}")
    (folder / "per_input.csv").write_text("\n".join(lines) + "\n")
    (folder / "metrics.json").write_text(json.dumps({"ARC/pass@2": pass_rate, **metrics}))
    return folder


def _grid_scores(folder: Path, exact: float, seed: int, title: str = "Sudoku") -> Path:
    """What `trm score sudoku|maze` writes: metrics.json and per_example.csv."""
    values = np.random.default_rng(seed).random(200) < exact
    folder.mkdir(parents=True)
    rows = "".join(f"{i},{int(e)},{81 * int(e)},81\n" for i, e in enumerate(values))
    (folder / "per_example.csv").write_text(",".join(S.GRID_PER_EXAMPLE) + "\n" + rows)
    (folder / "metrics.json").write_text(json.dumps({f"{title}/exact_accuracy": exact}))
    return folder


def _runs(tmp_path: Path, source: str) -> tuple[dict[str, Path], str, set[str], str]:
    """(--run NAME=DIR, --base, the metrics compared, unit) of one comparison of the pipeline."""
    if source == "paper-single":
        runs = {
            n: _arc_scores(tmp_path / n, r, i)
            for i, (n, r) in enumerate((("paper", 0.6), ("single", 0.4)))
        }
        return runs, "single", {"ARC/pass@1", "ARC/pass@2"}, "task"
    if source == "grid":
        names = (("trm-mlp", 0.8), ("no-ema", 0.7), ("hrm", 0.5))
        runs = {n: _grid_scores(tmp_path / n, r, i) for i, (n, r) in enumerate(names)}
        return runs, "trm-mlp", {"Sudoku/exact_accuracy"}, "test example"
    if source == "ids":
        names = (("true", 0.6), ("blank", 0.1), ("random", 0.2), ("mean", 0.1))
        runs = {n: _arc_scores(tmp_path / n, r, i) for i, (n, r) in enumerate(names)}
        return runs, "true", {"ARC/pass@1", "ARC/pass@2"}, "task"
    assert source == "llm"
    runs = {
        "trm": _arc_scores(tmp_path / "trm", 0.5, 0),
        "llm": _arc_scores(tmp_path / "llm", 0.2, 1, n_unparseable=3, cost={}),
    }
    return runs, "llm", {"ARC/pass@1", "ARC/pass@2"}, "task"


@pytest.mark.parametrize("source", ["paper-single", "grid", "ids", "llm"])
def test_every_compare_runs_source_writes_the_one_layout(tmp_path, source):
    runs, base, metrics, unit = _runs(tmp_path, source)
    out = tmp_path / "out.json"
    argv = ["compare", "runs", "--run", *(f"{n}={d}" for n, d in runs.items())]
    assert main([*argv, "--base", base, "--out", str(out), "--n-boot", "300"]) == 0
    doc = read_comparisons(out)  # every key of the layout, known methods
    records = doc["comparisons"]
    others = [n for n in runs if n != base]
    assert [(r["a"], r["metric"]) for r in records] == [
        (n, m) for n in others for m in sorted(metrics)
    ]
    for r in records:
        assert list(r) == list(RECORD_KEYS) and r["b"] == base and r["unit"] == unit
        assert r["diff"] == pytest.approx(r["a_value"] - r["b_value"])
        assert r["diff_ci_low"] <= r["diff"] <= r["diff_ci_high"] and (r["n_boot"], r["seed"]) == (
            300,
            0,
        )
    assert doc["base"] == base and doc["runs"] == list(runs)


@needs_golden
def test_the_sweep_source_writes_the_one_layout(tmp_path):
    data, preds = GOLDEN / "upstream-aug-8", GOLDEN / "eval-seed0" / "preds.npz"
    out = tmp_path / "sweep.json"
    same = tmp_path / "same.npz"  # a copy: one path given twice is refused
    same.write_bytes(preds.read_bytes())
    argv = ["compare", "sweep", "--data", str(data), "--run", f"a={preds}", f"b={same}"]
    assert main([*argv, "--levels", "0", "4", "--out", str(out), "--n-boot", "200"]) == 0
    records = read_comparisons(out)["comparisons"]
    assert [r["context"]["level"] for r in records] == [0, 4]
    assert all(r["diff"] == 0 and r["a_value"] == r["b_value"] for r in records)  # same file
    assert [r["context"]["a_mean_votes"] for r in records] == [1.0, 5.0]


def _valid(path: Path) -> dict:
    rec = dict.fromkeys(RECORD_KEYS, 0.5)
    rec |= {"a_ci_method": "wilson", "b_ci_method": "bootstrap", "diff_ci_method": "wilson-mover"}
    rec |= {"metric": "ARC/pass@2", "unit": "task", "a": "x", "b": "y", "context": {}}
    write_comparisons(path, [rec, rec])
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["comparisons"][1].pop("p_value"), "comparisons[1] lacks key 'p_value'"),
        (
            lambda d: d["comparisons"][0].update(diff_ci_method="wilson"),
            "comparisons[0].diff_ci_method is 'wilson'",
        ),
        (
            lambda d: d["comparisons"][1].update(context=[]),
            "comparisons[1].context must be an object",
        ),
        (lambda d: d.update(comparisons={}), "'comparisons' must be a list"),
        (lambda d: d.pop("format"), "not a comparisons file"),
    ],
)
def test_read_comparisons_names_the_file_the_record_and_the_key(tmp_path, change, message):
    path = tmp_path / "c.json"
    doc = _valid(path)
    assert read_comparisons(path)["comparisons"] == doc["comparisons"]
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        read_comparisons(path)


def test_table_builder_shows_n_intervals_with_methods_and_the_baseline(tmp_path):
    import jinja2

    from trm.report.comparisons import comparison_table

    runs, base, _, _ = _runs(tmp_path, "ids")
    out = tmp_path / "ids.json"
    argv = ["compare", "runs", "--run", *(f"{n}={d}" for n, d in runs.items()), "--base", base]
    assert main([*argv, "--out", str(out), "--n-boot", "300"]) == 0
    records = read_comparisons(out)["comparisons"]
    view = comparison_table(out, "trm compare runs")
    assert view["n"] == N_TASKS and view["unit"] == "task" and view["base"] == "true"
    (group,) = view["groups"]
    assert [r["name"] for r in group["rows"]] == ["true", "blank", "random", "mean"]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "reports" / "templates"))
    macro = env.get_template("comparisons.html.j2").module.comparison_table
    html = str(macro(view, "ids-table"))
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    assert len(rows) == 1 + 4 and "<th>n (tasks)</th>" in rows[0]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows[1:]]
    assert cells[0][:2] == ["true", str(N_TASKS)] and cells[0][4] == "baseline"  # the base row
    blank = next(r for r in records if r["a"] == "blank" and r["metric"] == "ARC/pass@1")
    lo, hi = (100 * blank[k] for k in ("diff_ci_low", "diff_ci_high"))
    method = S.CI_METHOD_SHORT[blank["diff_ci_method"]]
    assert cells[1][0] == "blank" and cells[1][1] == str(N_TASKS)
    assert cells[1][5] == f"[{lo:+.1f}, {hi:+.1f}] pt {method}"
    assert re.fullmatch(r"\[\d+\.\d, \d+\.\d\] (bootstrap|Wilson)", cells[1][3])
    assert cells[1][6] == f"{blank['p_value']:.3g}"
