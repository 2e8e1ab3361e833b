"""The TRM-vs-LLM comparison (`trm compare runs --run trm=.. llm=.. --base llm`) and the report's
LLM section, from small fake score files (no transformers needed: these read what
`trm score arc` and `trm llm score` write)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trm.cli import main
from trm.errors import UserError
from trm.eval import schema as S
from trm.eval.compare import compare_runs
from trm.eval.paired import read_comparisons, write_comparisons
from trm.eval.stats import Bootstrap
from trm.llm import schema as L
from trm.report.inputs import ReportInputError
from trm.report.llm import LlmInputs, llm_section
from trm.report.render import render_html

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "reports" / "templates"


def _per_input(folder: Path, rows: list[tuple[str, int, int, int]]) -> Path:
    """per_input.csv with TRM's columns: (task, test_index, pass@1, pass@2) per test input."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [",".join([*S.PER_INPUT, "pass@1", "pass@2"])]
    for task, j, p1, p2 in rows:
        rank = 0 if p1 else (1 if p2 else -1)
        lines.append(f"{task},{j},1,1,1,{rank},{p1},{p2}")
    (folder / "per_input.csv").write_text("\n".join(lines) + "\n")
    (folder / "metrics.json").write_text(json.dumps({"ARC/pass@2": 0.5}))  # the kind: ARC
    return folder


def _compare(trm: Path, llm: Path, out: Path) -> Path:
    """What the workflow runs: `trm compare runs --run trm=.. llm=.. --base llm`."""
    records = compare_runs({"trm": trm, "llm": llm}, "llm", Bootstrap(n_boot=200))
    write_comparisons(out, records, base="llm", runs=["trm", "llm"])
    return out


def _llm_metrics(path: Path, **override) -> Path:
    m = {
        "ARC/pass@1": 0.25,
        "ARC/pass@2": 0.5,
        "ARC/pass@1_ci_low": 0.0,
        "ARC/pass@1_ci_high": 0.75,
        "ARC/pass@2_ci_low": 0.0,
        "ARC/pass@2_ci_high": 1.0,
        "ARC/pass@1_ci_method": "wilson",
        "ARC/pass@2_ci_method": "wilson",
        L.N_TASKS: 4,
        L.N_TEST_INPUTS: 5,
        L.N_PREDICTIONS: 10,
        L.N_UNPARSEABLE: 3,
        L.N_HIT_TOKEN_LIMIT: 2,
        L.N_SKIPPED_OVERLONG: 0,
        L.N_TRUNCATED_OVERLONG: 1,
        L.N_WITHOUT_ANSWER: 1,
        L.ATTEMPTS: "top-2 answers voted over views",
        L.COST: {
            "parameters": 1_234_567,
            "trainable_parameters": 8_192,
            "device": "cpu",
            "cpu_seconds": 42.5,
            "tokens_generated": 3_456,
        },
    } | override
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(m))
    return path


TRM_ROWS = [("a", 0, 1, 1), ("b", 0, 1, 1), ("b", 1, 0, 1), ("c", 0, 0, 0), ("d", 0, 1, 1)]
LLM_ROWS = [("a", 0, 0, 1), ("b", 0, 0, 0), ("b", 1, 0, 0), ("c", 0, 0, 0), ("d", 0, 1, 1)]


def test_compare_is_the_paired_difference_over_tasks(tmp_path):
    trm = _per_input(tmp_path / "trm", TRM_ROWS)
    llm = _per_input(tmp_path / "llm", LLM_ROWS)
    out = tmp_path / "cmp.json"
    argv = ["compare", "runs", "--run", f"trm={trm}", f"llm={llm}", "--base", "llm"]
    assert main([*argv, "--out", str(out)]) == 0
    records = {r["metric"]: r for r in read_comparisons(out)["comparisons"]}
    assert list(records) == ["ARC/pass@1", "ARC/pass@2"]
    # per task pass@1 TRM (1, 0.5, 0, 1) vs LLM (0, 0, 0, 1); pass@2 (1, 1, 0, 1) vs (1, 0, 0, 1)
    assert records["ARC/pass@1"]["diff"] == pytest.approx(1.5 / 4)
    assert records["ARC/pass@2"]["diff"] == pytest.approx(1 / 4)
    for r in records.values():
        assert (r["a"], r["b"], r["n"], r["unit"]) == ("trm", "llm", 4, "task")
        assert r["diff_ci_low"] <= r["diff"] <= r["diff_ci_high"] and 0 <= r["p_value"] <= 1
    # identical scores: no difference, p = 1
    (same, _) = compare_runs({"a": trm, "b": trm}, None, Bootstrap(n_boot=200))
    assert same["diff"] == 0 and same["p_value"] == 1


def test_compare_refuses_different_tasks_and_writes_nothing(tmp_path):
    trm = _per_input(tmp_path / "trm", TRM_ROWS)
    llm = _per_input(tmp_path / "llm", LLM_ROWS[:-1] + [("e", 0, 1, 1)])
    argv = ["compare", "runs", "--run", f"trm={trm}", f"llm={llm}", "--base", "llm"]
    with pytest.raises(UserError, match=r"different tasks.*only in trm: \['d'\].*\['e'\]"):
        compare_runs({"trm": trm, "llm": llm}, "llm", Bootstrap(n_boot=200))
    assert main([*argv, "--out", str(tmp_path / "cmp.json")]) == 2
    assert not (tmp_path / "cmp.json").exists()


def test_report_renders_the_llm_section_from_declared_keys(tmp_path):
    metrics = _llm_metrics(tmp_path / "llm" / "score" / "metrics.json")
    cmp = tmp_path / "llm" / "compare" / "arc-trm.json"
    _compare(_per_input(tmp_path / "trm", TRM_ROWS), _per_input(tmp_path / "l", LLM_ROWS), cmp)
    settings = {"description": "fake LLM run", "benchmark": "ARC-AGI-1", "smoke": True}
    inp = LlmInputs("llm-fake", settings, str(metrics), {"arc-trm": str(cmp)})
    html = render_html([], None, TEMPLATES, "t", llm=[inp])
    assert 'id="trm-vs-llm"' in html and "LLM experiment llm-fake" in html
    assert "25.0 %" in html and "[0.0, 75.0]" in html  # pass@1 with its interval
    table = html.split('class="llm-compare-table"')[1].split("</table>")[0]
    assert "TRM arc-trm − LLM" in table and "over the same 4 tasks" in table
    assert "+37.5 pt" in table and "+25.0 pt" in table and '<td class="num">baseline</td>' in table
    assert table.count("<tr>") == 3  # header, llm (the baseline), trm
    assert "1 234 567" in html and "8 192" in html and "42.5 s wall clock on CPU" in html
    assert "3 456" in html  # tokens generated
    sec = llm_section(inp)
    counts = dict(sec["counts"])
    assert counts["unparseable answers (scored wrong)"] == "3"
    assert counts["answers stopped by the token limit (over-long)"] == "2"
    assert any("5 decoded answer(s)" in c for c in sec["caveats"])
    # without a TRM experiment on the same tasks: no difference, said so
    alone = render_html([], None, TEMPLATES, "t", llm=[LlmInputs("x", settings, str(metrics))])
    assert "no paired difference" in alone and "− LLM" not in alone
    # and a report without LLM experiments has no such section
    assert 'id="trm-vs-llm"' not in render_html([], None, TEMPLATES, "t")


@pytest.mark.parametrize("missing", ["ARC/pass@2_ci_high", L.N_UNPARSEABLE, L.COST])
def test_report_names_the_file_and_the_missing_key(tmp_path, missing):
    metrics = _llm_metrics(tmp_path / "metrics.json")
    data = json.loads(metrics.read_text())
    del data[missing]
    metrics.write_text(json.dumps(data))
    with pytest.raises(ReportInputError, match=f"{metrics}: missing key '{missing}'"):
        llm_section(LlmInputs("x", {}, str(metrics)))


def test_report_spec_renders_llm_sections_and_names_a_bad_entry(tmp_path, capsys):
    metrics = _llm_metrics(tmp_path / "llm" / "score" / "metrics.json")
    cmp = tmp_path / "llm" / "compare" / "arc-trm.json"
    _compare(_per_input(tmp_path / "trm", TRM_ROWS), _per_input(tmp_path / "l", LLM_ROWS), cmp)
    entry = {
        "name": "llm-fake",
        "settings": {"description": "fake LLM run", "benchmark": "ARC-AGI-1", "smoke": True},
        "metrics_json": str(metrics),
        "comparisons": {"arc-trm": str(cmp)},
    }
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"title": "LLM only", "llm": [entry]}))
    out, bundle = tmp_path / "out" / "r.html", tmp_path / "out" / "p.json"
    cmd = ["report", "--spec", str(spec), "--out", str(out), "--bundle", str(bundle)]
    assert main([*cmd, "--templates", str(TEMPLATES)]) == 0
    assert "(0 experiments, 1 LLM experiments)" in capsys.readouterr().out
    html = out.read_text()
    assert 'id="trm-vs-llm"' in html and "LLM experiment llm-fake" in html
    assert "TRM arc-trm − LLM" in html and "+37.5 pt" in html

    # a misspelt key would silently drop the comparison: refused, naming the entry and key
    bad = dict(entry, compare=entry["comparisons"])
    spec.write_text(json.dumps({"llm": [bad]}))
    out2 = tmp_path / "out2" / "r.html"
    assert main(["report", "--spec", str(spec), "--out", str(out2), "--bundle", str(bundle)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}: llm[0] has unknown key(s) ['compare']" in err, err
    assert not out2.exists()
    spec.write_text(json.dumps({"llms": [entry]}))
    assert main(["report", "--spec", str(spec), "--out", str(out2), "--bundle", str(bundle)]) == 2
    assert "unknown key(s) ['llms']" in capsys.readouterr().err and not out2.exists()
