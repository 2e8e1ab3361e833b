"""The claims ledger (issue 20): the registry holds every claim with its source and setting, the
grid configs' paper figures agree with it, every claim gets its verdict from the one rule on
the report's inputs (not run / not comparable on the CPU default; consistent / higher / lower
on a run in the claim's setting), reports/claims.json reads back through `trm claims`, and the
report opens with the ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trm.claims import claims, parse
from trm.errors import UserError
from trm.eval import schema as S
from trm.eval.analyses import keys as K
from trm.eval.paired import write_comparisons
from trm.grids import expand_grids
from trm.report.describe import setting_reasons
from trm.report.inputs import ExperimentInputs
from trm.report.ledger import ENTRY_KEYS, FORMAT, ledger, line, read_ledger, write_ledger
from trm.utils import write_json
from trm.verdict import CONSISTENT, HIGHER, LOWER, NOT_COMPARABLE, NOT_RUN

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "config" / "experiments"

# Issue 20, section 1: every claim it lists, as (id, source, value, unit).
SECTION_1 = [
    ("trm-arc-agi-1", "trm-paper", 44.6, "%"),
    ("trm-arc-agi-2", "trm-paper", 7.8, "%"),
    ("trm-mlp-sudoku-extreme", "trm-paper", 87.4, "%"),
    ("trm-maze-hard", "trm-paper", 85.3, "%"),
    ("hrm-arc-agi-1", "trm-paper", 40.3, "%"),
    ("hrm-arc-agi-2", "trm-paper", 5.0, "%"),
    ("hrm-sudoku-extreme", "trm-paper", 55.0, "%"),
    ("hrm-maze-hard", "trm-paper", 74.5, "%"),
    ("readme-sudoku-mlp", "trm-readme", 87.0, "%"),
    ("readme-sudoku-attention", "trm-readme", 75.0, "%"),
    ("fork-voting-gain", "fork-paper", 10.75, "pt"),
    ("fork-blank-ids", "fork-paper", 0.0, "%"),
    ("fork-act-step-1", "fork-paper", 38.25, "%"),
    ("fork-act-step-4", "fork-paper", 40.5, "%"),
    ("fork-act-step-gain", "fork-paper", 2.25, "pt"),
    ("fork-trm-peak-memory", "fork-paper", 2.4, "GB"),
    ("fork-trm-throughput", "fork-paper", 31.3, "samples/s"),
    ("fork-llama-peak-memory", "fork-paper", 6.1, "GB"),
    ("fork-llama-throughput", "fork-paper", 0.24, "samples/s"),
    ("arcprize-semi-private-arc-agi-1", "arcprize-card", 40.0, "%"),
    ("arcprize-semi-private-arc-agi-2", "arcprize-card", 6.3, "%"),
]


def _config(name: str) -> dict:
    return yaml.safe_load((EXPERIMENTS / f"{name}.yaml").read_text())


def _grid_papers() -> dict[str, float]:
    """Every `paper:` figure of every experiment config, as '<config>/<variant>' -> value."""
    out = {}
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        for exp in yaml.safe_load(path.read_text())["experiments"].values():
            for variant, value in (exp.get("paper") or {}).items():
                out[f"{path.stem}/{variant}"] = float(value)
    return out


def test_every_claim_of_the_issue_is_in_the_registry_with_source_and_setting():
    reg = claims()
    by_id = {c.id: c for c in reg.claims}
    for cid, source, value, unit in SECTION_1:
        c = by_id[cid]
        assert (c.source, c.value, c.unit) == (source, value, unit), cid
    # Tables 1-3: every row of the sudoku-ablations and hrm-vs-trm-depth grids is a claim
    quoted = {q for c in reg.claims for q in c.quoted_by}
    for grid in ("sudoku-ablations", "hrm-vs-trm-depth"):
        assert {f"{grid}/{v}" for v in _config(grid)["experiments"][grid]["paper"]} <= quoted
    assert by_id["readme-sudoku-mlp"].tolerance == by_id["readme-sudoku-attention"].tolerance == 2
    for c in reg.claims:
        source = reg.sources[c.source]
        assert source.url.startswith("https://") and source.citation and c.where, c.id
        assert c.statement and c.metric and c.type in ("level", "effect"), c.id
        assert (c.checked or c.unchecked) and not (c.checked and c.unchecked), c.id
        if c.experiment:  # the experiment config that runs it exists
            assert (EXPERIMENTS / f"{c.experiment}.yaml").exists(), c.id
    effects = {c.id for c in reg.claims if c.type == "effect"}
    assert effects == {"fork-voting-gain", "fork-act-step-gain"}
    assert "arXiv 2510.04871" in reg.citation


def test_the_grid_configs_paper_figures_agree_with_the_registry():
    """The registry is the one source of the grids' paper figures: every `paper:` figure of an
    experiment config is a claim's (its quoted_by), with the claim's value, and back."""
    papers = _grid_papers()
    quoted = {q: c for c in claims().claims for q in c.quoted_by}
    assert set(papers) == set(quoted)
    for row, value in papers.items():
        assert value == quoted[row].value, row


@pytest.mark.parametrize("grid", ["sudoku-ablations", "hrm-vs-trm-depth", "arc1-hrm-verify"])
def test_each_grid_row_runs_in_its_claims_setting(grid):
    """A grid row quoting a claim is a run in that claim's setting (its variant's override is the
    claim's): the ledger would judge the row, not call it not comparable."""
    config = _config(grid)
    grids = expand_grids(config)
    reg = claims()
    for c in reg.claims:
        for row in c.quoted_by:
            name, variant = row.split("/")
            if name == grid:
                settings = config["experiments"][grids[grid].experiments[variant]]
                assert setting_reasons(settings, reg.setting_of(c), "the claim's") == [], row


def test_each_claims_experiment_config_runs_in_its_setting():
    reg = claims()
    for c in reg.claims:
        if c.experiment and not c.quoted_by and c.measure != "none":
            settings = _config(c.experiment)["experiments"][c.experiment]
            assert setting_reasons(settings, reg.setting_of(c)) == [], c.id


def test_a_broken_registry_entry_is_named():
    doc = yaml.safe_load((ROOT / "config" / "claims.yaml").read_text())
    for change, message in (
        (lambda d: d["claims"][0].update(settting="x"), r"claims\[0\]: unknown key\(s\)"),
        (lambda d: d["claims"][1].update(setting="ARC-AGI-3"), r"claims\[1\].setting: 'ARC-AGI-3'"),
        (lambda d: d["claims"][2].update(metric="Maze/exact_accuracy"), r"claims\[2\].metric"),
        (lambda d: d["claims"][3].update(checked="yes"), r"claims\[3\]: give either checked"),
        (lambda d: d["claims"][4].update(type="effect"), r"claims\[4\].type"),
        (lambda d: d["settings"]["Maze-Hard"].pop("train"), r"settings.Maze-Hard: a run trained"),
        (lambda d: d["sources"]["trm-paper"].pop("url"), r"sources.trm-paper: lacks \['url'\]"),
    ):
        bad = yaml.safe_load(yaml.safe_dump(doc))
        change(bad)
        with pytest.raises(UserError, match=f"claims.yaml: {message}"):
            parse(bad, "claims.yaml")


# ---- the verdicts on a report's inputs ---------------------------------------------------------


def _estimate(key: str, value: float, lo: float, hi: float, method: str = "wilson") -> dict:
    low, high = S.ci_keys(key)
    return {key: value, low: lo, high: hi, S.ci_method_key(key): method}


def _record(metric, a, b, av, bv, diff, lo, hi, context=None, n=400):
    rec = {"metric": metric, "unit": "task", "n": n}
    for side, name, v in (("a", a, av), ("b", b, bv)):
        rec |= {side: name, f"{side}_value": v, f"{side}_ci_low": max(0.0, v - 0.03)}
        rec |= {f"{side}_ci_high": min(1.0, v + 0.03), f"{side}_ci_method": "bootstrap"}
    rec |= {"diff": diff, "diff_ci_low": lo, "diff_ci_high": hi, "diff_ci_method": "bootstrap"}
    return rec | {"p_value": 0.01, "n_boot": 1000, "seed": 0, "context": context or {}}


def _arc_run(tmp: Path, name: str, settings: dict, *, gpu: bool = False) -> ExperimentInputs:
    """The files an ARC experiment's section reads, with chosen values: pass@2 45 % [40, 50],
    paper minus single pass@1 +20 [+15, +25] pt, blank 0 % and random 10 %, ACT step 4 minus
    step 1 -2 [-5, +0.5] pt, and a benchmark at batch 32 in bfloat16 (on an H100 if `gpu`)."""
    d = tmp / name
    d.mkdir()
    metrics = {}
    for mode, (p1, p2) in {"paper": (0.4, 0.45), "single": (0.2, 0.25)}.items():
        doc = {S.ARC_N_TASKS: 400, S.ARC_N_TEST_INPUTS: 419}
        doc |= _estimate("ARC/pass@1", p1, p1 - 0.05, p1 + 0.05)
        doc |= _estimate("ARC/pass@2", p2, p2 - 0.05, p2 + 0.05)
        write_json(d / f"{mode}.json", doc)
        metrics[mode] = str(d / f"{mode}.json")
    write_comparisons(
        d / "compare.json", [_record("ARC/pass@1", "paper", "single", 0.4, 0.2, 0.2, 0.15, 0.25)]
    )
    write_comparisons(
        d / "ids_paper.json",
        [
            _record("ARC/pass@1", "blank", "true", 0.0, 0.4, -0.4, -0.45, -0.35),
            _record("ARC/pass@1", "random", "true", 0.1, 0.4, -0.3, -0.35, -0.25),
        ],
    )
    traj = d / "trajectory"
    traj.mkdir()
    rows = []
    for mode in ("paper", "single"):
        for step in (1, 2, 3, 4):
            row = {K.TRAJ_MODE: mode, K.TRAJ_STEP: step, K.TRAJ_HALTED: 0.5}
            for k in (1, 2):
                row |= _estimate(K.per_input_pass(k), 0.4, 0.35, 0.45)
            rows.append(row)
    with open(traj / "trajectory.csv", "w") as f:
        f.write(",".join(K.trajectory_columns()) + "\n")
        for row in rows:
            f.write(",".join(str(row[c]) for c in K.trajectory_columns()) + "\n")
    write_comparisons(
        traj / K.STEPS_VS_FIRST,
        [
            _record("ARC/pass@1", "step 4", "step 1", 0.4, 0.42, -0.02, -0.05, 0.005, {"mode": m})
            for m in ("paper", "single")
        ],
    )
    device = {"type": "cuda", "name": "NVIDIA H100 80GB HBM3"} if gpu else {"type": "cpu"}
    device.setdefault("name", "AMD EPYC")
    memory = {"cuda_max_allocated_bytes": 2.4e9} if gpu else {"cpu_peak_rss_bytes": 2.5e8}
    result = {"mode": "inference", "batch_size": 32, "dtype": "bfloat16", "compile": False}
    result |= {"latency_batch_s": {"median": 0.8}, "throughput_examples_per_s": 40.0}
    write_json(d / "bench.json", {"device": device, "results": [result | {"memory": memory}]})
    return ExperimentInputs(
        name=name,
        settings=settings | {"kind": "arc"},
        data_dir=str(d),
        metrics=metrics,
        comparisons=str(d / "compare.json"),
        bench_json=str(d / "bench.json"),
        analyses={
            "analysis_ids_paper": str(d / "ids_paper.json"),
            "analysis_trajectory": str(traj / "trajectory.csv"),
        },
    )


def _sudoku_run(tmp: Path, name: str, settings: dict, value: float) -> ExperimentInputs:
    d = tmp / name
    d.mkdir()
    doc = {S.GRID_N_EXAMPLES: 1000} | _estimate(
        "Sudoku/exact_accuracy", value, value - 0.005, value + 0.005, "bootstrap"
    )
    write_json(d / "metrics.json", doc)
    return ExperimentInputs(
        name, settings | {"kind": "sudoku"}, str(d), {"paper": str(d / "metrics.json")}
    )


def _by_id(entries):
    return {e["id"]: e for e in entries}


def test_on_the_cpu_default_every_claim_is_not_run_or_not_comparable_with_its_reason(tmp_path):
    """The default config's experiments (config/config.yaml), with every file the report reads:
    each claim is not run or not comparable, and says why."""
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"]
    exps = [
        _arc_run(tmp_path, "arc-generated", default["arc-generated"]),
        _sudoku_run(tmp_path, "sudoku-smoke", default["sudoku-smoke"], 0.99),
    ]
    entries = _by_id(ledger(exps))
    assert set(entries) == {c.id for c in claims().claims}
    for e in entries.values():
        assert e["verdict"] in (NOT_RUN, NOT_COMPARABLE), e["id"]
        assert e["reason"], e["id"]
        if e["verdict"] == NOT_COMPARABLE:
            assert "is not in the claim's setting: it is a smoke run" in e["reason"], e["id"]
    arc = entries["trm-arc-agi-1"]
    assert arc["reason"].startswith("arc-generated is not in the claim's setting")
    assert "dataset.num_aug is 16, the claim's 1000" in arc["reason"]
    assert arc["ours"]["value"] == pytest.approx(45.0) and arc["ours"]["n"] == 400
    assert "it trained its own weights" in entries["fork-voting-gain"]["reason"]
    assert "it was measured on the CPU (AMD EPYC)" in entries["fork-trm-throughput"]["reason"]
    assert entries["trm-maze-hard"]["verdict"] == NOT_RUN
    assert "config/experiments/maze-hard.yaml runs it" in entries["trm-maze-hard"]["reason"]
    assert "does not measure it" in entries["fork-llama-peak-memory"]["reason"]
    assert entries["table1-no-ema"]["reason"].startswith("sudoku-smoke is not in")


def test_a_run_in_the_claims_setting_is_judged_consistent_higher_or_lower(tmp_path):
    verify = _config("arc1-verify")["experiments"]["arc1-verify"]
    mlp = _config("sudoku-extreme-mlp")["experiments"]["sudoku-extreme-mlp"]
    exps = [
        _arc_run(tmp_path, "arc1-verify", verify, gpu=True),
        _sudoku_run(tmp_path, "sudoku-extreme-mlp", mlp, 0.855),
    ]
    e = _by_id(ledger(exps))
    # levels on the scorer's interval: 45 % [40, 50] holds 44.6
    assert e["trm-arc-agi-1"]["verdict"] == CONSISTENT
    # effects on the paired difference: +20 [+15, +25] pt against +10.75 is higher, by ...
    gain = e["fork-voting-gain"]
    assert gain["verdict"] == HIGHER
    assert (gain["diff"], gain["diff_ci_low"], gain["diff_ci_high"]) == pytest.approx(
        (9.25, 4.25, 14.25)
    )
    assert "ours minus claimed +9.2 pt [+4.2, +14.2]" in line(gain)
    # blank: 0 % [0, 3] holds 0; random: 10 % [7, 13] lies above 0
    assert e["fork-blank-ids"]["verdict"] == CONSISTENT
    assert "blank minus true: -40.0 pt" in e["fork-blank-ids"]["ours"]["also"]
    assert e["fork-random-ids"]["verdict"] == HIGHER
    # ACT step 4 minus step 1: -2 [-5, +0.5] pt lies below the claimed +2.25
    assert e["fork-act-step-gain"]["verdict"] == LOWER
    assert e["fork-act-step-1"]["verdict"] == CONSISTENT  # 40 % [35, 45] holds 38.25
    # one H100 benchmark at batch 32 in bfloat16: a point, said so
    assert e["fork-trm-peak-memory"]["verdict"] == CONSISTENT
    tput = e["fork-trm-throughput"]
    assert tput["verdict"] == HIGHER and "no interval" in tput["reason"]
    # Sudoku: 85.5 % [85.0, 86.0] is below 87.4 but within the README's 87 +- 2
    assert e["trm-mlp-sudoku-extreme"]["verdict"] == LOWER
    assert e["readme-sudoku-mlp"]["verdict"] == CONSISTENT
    assert "tolerance" in e["readme-sudoku-mlp"]["reason"]
    # the same run is not in the attention claim's setting (model.mlp_t), nor HRM's
    assert e["readme-sudoku-attention"]["verdict"] == NOT_COMPARABLE
    assert "model.mlp_t is not set (the claim's: False)" in e["readme-sudoku-attention"]["reason"]
    # the semi-private set is not a public run's
    assert e["arcprize-semi-private-arc-agi-1"]["verdict"] == NOT_COMPARABLE
    assert "semi_private_v1" in e["arcprize-semi-private-arc-agi-1"]["reason"]


def test_claims_json_reads_back_through_trm_claims(tmp_path):
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"]
    entries = ledger([_arc_run(tmp_path, "arc-generated", default["arc-generated"])])
    out = tmp_path / "claims.json"
    write_ledger(out, entries)
    doc = json.loads(out.read_text())
    assert doc["format"] == FORMAT and list(doc["claims"][0]) == list(ENTRY_KEYS)
    assert read_ledger(out)[0]["id"] == "trm-arc-agi-1"
    cmd = [sys.executable, "-m", "trm.cli", "claims", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(entries) + 1  # one per claim, then the count of each verdict
    first = lines[0]
    assert first.startswith("trm-arc-agi-1  claimed 44.6 %  ours 45.0 % [40.0, 50.0] Wilson")
    assert "n = 400 tasks" in first and "NOT COMPARABLE: arc-generated is not in" in first
    assert lines[-1].startswith(f"{len(entries)} claims: ")
    # the default path, and a file that is no ledger: one line, exit 2
    (tmp_path / "reports").mkdir()
    write_json(tmp_path / "reports" / "claims.json", {"format": FORMAT, "claims": [{"id": 1}]})
    bad = subprocess.run(cmd[:4], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "reports/claims.json: claims[0] lacks" in bad.stderr


def test_the_report_opens_with_the_ledger_and_writes_claims_json(tmp_path):
    from trm.report.build import build_report

    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"]
    exp = _sudoku_run(tmp_path, "sudoku-smoke", default["sudoku-smoke"], 0.99)
    out = tmp_path / "r"
    build_report(
        [exp],
        [],
        out / "report.html",
        out / "provenance.json",
        ROOT / "reports" / "templates",
        out_claims=out / "claims.json",
    )
    html = (out / "report.html").read_text()
    first = html.index("<h2")
    assert html.rindex('<section id="claims"', 0, first) >= 0
    assert html[first:].startswith("<h2>Claims")
    assert html.index('id="claims"') < html.index('id="exp-sudoku-smoke"')
    table = html.split('class="claims-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr id=") == len(claims().claims)
    assert '<tr id="claim-readme-sudoku-mlp" class="verdict-not-comparable">' in table
    assert 'href="#exp-sudoku-smoke"' in table
    assert len(read_ledger(out / "claims.json")) == len(claims().claims)
