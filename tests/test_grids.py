"""Ablation grids: expansion of `variants:` into experiments, the paired comparison of the
variants (`trm compare runs`), its report table, and the DAG a grid plans (dry runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from workflow_helpers import (
    ROOT,
    copy_workflow,
    mark_complete,
    planned_jobs,
    planned_outputs,
    snakemake,
    tail,
)

from trm.errors import UserError
from trm.eval.compare import compare_runs
from trm.eval.paired import read_comparisons, write_comparisons
from trm.eval.stats import Bootstrap, paired_bootstrap_diff
from trm.grids import GridConfigError, describe_override, expand_grids

GRID_CONFIGS = sorted(
    p.stem for p in (ROOT / "config/experiments").glob("*.yaml") if "variants:" in p.read_text()
)


def _grid_config(**variants) -> dict:
    base = {
        "benchmark": "Sudoku-Extreme",
        "dataset": {"name": "d", "kind": "sudoku", "source": "generate", "size": 4},
        "model": {"preset": "sudoku_tiny", "hidden_size": 64},
        "train": {"preset": "sudoku_smoke", "ema": True},
        "predict": {"batch_size": 8},
        "score": {"n_boot": 200},
        "variants": variants,
        "paper": {"base": 87.4},
    }
    return {"run": ["g", "other"], "experiments": {"g": base, "other": {"x": 1}}}


# ---- expansion ----------------------------------------------------------------------------------


def test_variants_become_experiments_deep_merged_and_run_is_expanded():
    cfg = _grid_config(
        base={}, no_ema={"train": {"ema": False}}, wide={"model": {"hidden_size": 128}}
    )
    grids = expand_grids(cfg)
    assert cfg["run"] == ["g.base", "g.no_ema", "g.wide", "other"]
    exps = cfg["experiments"]
    assert "g" not in exps and exps["other"] == {"x": 1}
    # deep merge: the override's key replaces one key, the section's other keys stay
    assert exps["g.no_ema"]["train"] == {"preset": "sudoku_smoke", "ema": False}
    assert exps["g.wide"]["model"] == {"preset": "sudoku_tiny", "hidden_size": 128}
    assert exps["g.base"]["train"]["ema"] is True
    assert all("variants" not in e and "paper" not in e for e in exps.values())
    g = grids["g"]
    assert g.base == "base" and g.variants == ["base", "no_ema", "wide"]
    assert g.changes == {
        "base": "(base settings)",
        "no_ema": "train.ema=false",
        "wide": "model.hidden_size=128",
    }
    assert g.paper == {"base": 87.4}
    assert g.train_of == {}  # every variant changes training


def test_evaluation_only_variant_shares_the_training_run():
    cfg = _grid_config(base={}, big_batch={"predict": {"batch_size": 64}}, other={"gpus": 1})
    grids = expand_grids(cfg)
    assert grids["g"].train_of == {"g.big_batch": "g.base"}


def test_explicit_base_is_listed_first():
    cfg = _grid_config(a={"train": {"ema": False}}, base={})
    cfg["experiments"]["g"]["base"] = "base"
    g = expand_grids(cfg)["g"]
    assert g.variants == ["base", "a"] and cfg["run"][:2] == ["g.base", "g.a"]


def test_bad_grid_settings_are_named():
    cfg = _grid_config(base={})
    cfg["experiments"]["g"]["paper"] = {"bsae": 1.0}
    with pytest.raises(GridConfigError, match=r"experiments\.g\.paper: \['bsae'\]"):
        expand_grids(cfg)
    cfg = _grid_config(base={})
    cfg["experiments"]["g.base"] = {"x": 1}
    with pytest.raises(GridConfigError, match="g.base"):
        expand_grids(cfg)


def test_describe_override_flattens_sections():
    assert describe_override({"model": {"preset": "hrm", "mlp_t": False}}) == (
        "model.preset=hrm, model.mlp_t=false"
    )


# ---- trm compare runs: a grid's variants against its base ----------------------------------------


def _score_dir(root: Path, name: str, exact: np.ndarray, title: str = "Sudoku") -> Path:
    """What `trm score sudoku|maze` writes: metrics.json (its headline key) and per_example.csv."""
    d = root / name
    d.mkdir(parents=True)
    rows = "".join(f"{i},{int(e)},{4 * int(e)},4\n" for i, e in enumerate(exact))
    (d / "per_example.csv").write_text("row,exact,cells_right,cells_scored\n" + rows)
    (d / "metrics.json").write_text(json.dumps({f"{title}/exact_accuracy": float(exact.mean())}))
    return d


def test_compare_runs_pairs_every_variant_with_the_base(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random(300) < 0.8
    worse = base & (rng.random(300) < 0.7)  # a subset of the base's right answers
    same = base.copy()
    dirs = {
        "base": _score_dir(tmp_path, "base", base),
        "worse": _score_dir(tmp_path, "worse", worse),
        "same": _score_dir(tmp_path, "same", same),
    }
    boot = Bootstrap(n_boot=500)
    records = compare_runs(dirs, None, boot)
    # one record per (variant other than the base, metric), the base on side b
    assert [(r["a"], r["b"], r["metric"]) for r in records] == [
        ("worse", "base", "Sudoku/exact_accuracy"),
        ("same", "base", "Sudoku/exact_accuracy"),
    ]
    worse_rec, same_rec = records
    assert worse_rec["unit"] == "test example" and worse_rec["n"] == 300
    assert worse_rec["a_value"] == pytest.approx(worse.mean())
    assert worse_rec["b_value"] == pytest.approx(base.mean())
    assert worse_rec["b_ci_low"] < base.mean() < worse_rec["b_ci_high"]
    expected = paired_bootstrap_diff(worse.astype(float), base.astype(float), boot)
    assert worse_rec["diff"] == pytest.approx(worse.mean() - base.mean())
    assert worse_rec["diff_ci_low"] == pytest.approx(expected["ci_low"])
    assert worse_rec["diff_ci_high"] < 0 and worse_rec["diff_ci_method"] == "bootstrap"
    # an identical variant: no unit changed, so the paired bootstrap would say [0, 0]; the
    # interval is Wilson-MOVER's, about +-1.3 pt for 0 changes in 300 units
    assert same_rec["diff"] == 0.0 and same_rec["diff_ci_method"] == "wilson-mover"
    assert -0.02 < same_rec["diff_ci_low"] == -same_rec["diff_ci_high"] < 0


def test_compare_runs_refuses_different_test_sets_and_kinds(tmp_path):
    dirs = {
        "a": _score_dir(tmp_path, "a", np.ones(10, bool)),
        "b": _score_dir(tmp_path, "b", np.ones(12, bool)),
    }
    with pytest.raises(UserError, match="different test examples"):
        compare_runs(dirs, None, Bootstrap(n_boot=200))
    dirs["b"] = _score_dir(tmp_path, "maze", np.ones(10, bool), title="Maze")
    with pytest.raises(UserError, match="scored Maze, .* Sudoku: not comparable"):
        compare_runs(dirs, None, Bootstrap(n_boot=200))
    with pytest.raises(UserError, match="--base 'c' is not one of the runs"):
        compare_runs(dirs, "c", Bootstrap(n_boot=200))
    with pytest.raises(UserError, match="at least two runs"):
        compare_runs({"a": dirs["a"]}, None, Bootstrap(n_boot=200))


def test_compare_runs_cli_writes_one_comparisons_file(tmp_path, capsys):
    from trm.cli import main

    a = _score_dir(tmp_path, "a", np.array([1, 1, 0, 1], bool), title="Maze")
    b = _score_dir(tmp_path, "b", np.array([1, 0, 0, 1], bool), title="Maze")
    out = tmp_path / "grid.json"
    argv = ["compare", "runs", "--run", f"a={a}", f"b={b}", "--base", "a", "--title", "g"]
    argv += ["--paper", "b=74.5", "--label", "b=model.preset=maze_hrm", "--out", str(out)]
    assert main([*argv, "--n-boot", "200"]) == 0
    doc = read_comparisons(out)
    assert (doc["title"], doc["base"], doc["runs"]) == ("g", "a", ["a", "b"])
    assert doc["paper"] == {"b": 74.5} and doc["labels"] == {"b": "model.preset=maze_hrm"}
    (rec,) = doc["comparisons"]
    assert (rec["metric"], rec["a"], rec["b"]) == ("Maze/exact_accuracy", "b", "a")
    assert rec["diff"] == pytest.approx(-0.25) and rec["n_boot"] == 200
    assert "b vs a, Maze/exact_accuracy: 50.0 % vs 75.0 %, -25.0 pt" in capsys.readouterr().out
    # a label or paper figure for a run that is not compared is refused, writing nothing
    bad = tmp_path / "bad.json"
    assert main([*argv[:-2], "--paper", "c=1", "--out", str(bad)]) == 2
    assert "--paper names runs not given with --run: ['c']" in capsys.readouterr().err
    assert not bad.exists()


# ---- the report's table -------------------------------------------------------------------------


def _fake_grid_json(path: Path) -> None:
    """A comparisons file as `trm compare runs` writes it for a Sudoku grid of two variants."""
    rec = {
        "metric": "Sudoku/exact_accuracy",
        "unit": "test example",
        "n": 200,
        "a": "hrm",
        "a_value": 0.412,
        "a_ci_low": 0.362,
        "a_ci_high": 0.462,
        "a_ci_method": "bootstrap",
        "b": "trm-mlp",
        "b_value": 0.9,
        "b_ci_low": 0.85,
        "b_ci_high": 0.95,
        "b_ci_method": "bootstrap",
        "diff": -0.488,
        "diff_ci_low": -0.518,
        "diff_ci_high": -0.458,
        "diff_ci_method": "bootstrap",
        "p_value": 0.01,
        "n_boot": 1000,
        "seed": 0,
        "context": {},
    }
    labels = {"trm-mlp": "(base settings)", "hrm": "model.preset=sudoku_tiny_hrm"}
    paper = {"trm-mlp": 87.4, "hrm": 55.0}
    write_comparisons(path, [rec], title="abl", base="trm-mlp", labels=labels, paper=paper)


def test_grid_table_renders(tmp_path):
    from trm.report.grids import GridInputs
    from trm.report.render import render_html

    _fake_grid_json(tmp_path / "grid.json")
    grid = GridInputs("abl", str(tmp_path / "grid.json"), {"trm-mlp": "abl.trm-mlp"})
    html = render_html([], None, ROOT / "reports/templates", grids=[grid])
    assert 'id="grid-abl"' in html
    table = html.split('class="grid-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 3  # header, the base, one variant
    assert '<th class="paper">paper</th>' in table and "minus trm-mlp (paired)" in table
    for cell in ("41.2 %", "[36.2, 46.2] bootstrap", "55.0 %", "-48.8 pt", "[-51.8, -45.8] pt"):
        assert cell in table, cell
    assert "model.preset=sudoku_tiny_hrm" in table and "87.4 %" in table
    assert '<td class="num">baseline</td>' in table and '<td class="num">200</td>' in table
    # the variant's experiment is not on this page: no link to it
    assert 'href="#exp-' not in table


def test_grid_table_missing_key_is_named(tmp_path):
    from trm.report.grids import GridInputs, grid_section
    from trm.report.inputs import ReportInputError

    _fake_grid_json(tmp_path / "grid.json")
    data = json.loads((tmp_path / "grid.json").read_text())
    del data["comparisons"][0]["diff_ci_low"]
    (tmp_path / "grid.json").write_text(json.dumps(data))
    with pytest.raises(
        ReportInputError, match=r"grid.json: comparisons\[0\] lacks key 'diff_ci_low'"
    ):
        grid_section(GridInputs("abl", str(tmp_path / "grid.json")))


# ---- the DAG of a grid (dry runs) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def wf(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("wf") / "repo")


def _dry_run(wf: Path, *configs: str, target: str = "report") -> dict[str, int]:
    args = ["-n", "--cores", "2", target, "--configfile", *configs]
    proc = snakemake(wf, *args)
    assert proc.returncode == 0, tail(proc)
    return planned_jobs(proc.stdout + proc.stderr)


@pytest.mark.parametrize("name", GRID_CONFIGS)
def test_grid_config_plans_one_chain_per_variant_and_one_dataset(wf, name):
    if "arc" in name and not (ROOT.parent / "shared" / "arc-kaggle-combined").exists():
        pytest.skip("../shared/arc-kaggle-combined is absent (CI always has it)")
    cfg = yaml.safe_load((ROOT / f"config/experiments/{name}.yaml").read_text())
    grids = expand_grids(cfg)
    exps = [cfg["experiments"][e] for g in grids.values() for e in g.experiments.values()]
    jobs = _dry_run(wf, f"config/experiments/{name}.yaml")
    shared = sum(len(g.train_of) for g in grids.values())
    assert jobs.get("train", 0) == sum("train" in e for e in exps) - shared
    assert jobs.get("fetch_checkpoint", 0) == len(
        {e["checkpoint"]["name"] for e in exps if "checkpoint" in e}
    )
    assert jobs["predict"] == len(exps)
    assert jobs["score"] == sum(len(e.get("score", {}).get("modes", ["paper"])) for e in exps)
    assert jobs["score_grid"] == len(grids) and jobs["report"] == 1
    n_datasets = len({e["dataset"]["name"] for e in exps})
    assert sum(v for k, v in jobs.items() if k.startswith("prepare_")) == n_datasets


def test_evaluation_only_variant_plans_no_training(wf):
    smoke = yaml.safe_load((ROOT / "config/experiments/ablations-smoke.yaml").read_text())
    smoke["experiments"]["ablations-smoke"]["variants"]["big-batch"] = {
        "predict": {"batch_size": 512}
    }
    (wf / "config/grid-evalonly.yaml").write_text(yaml.safe_dump(smoke, sort_keys=False))
    jobs = _dry_run(wf, "config/grid-evalonly.yaml")
    assert jobs["train"] == 4 and jobs["predict"] == 5 and jobs["score"] == 5


def test_bad_variant_override_stops_before_any_job(wf):
    smoke = yaml.safe_load((ROOT / "config/experiments/ablations-smoke.yaml").read_text())
    smoke["experiments"]["ablations-smoke"]["variants"]["hrm"] = {"predict": {"bach_size": 8}}
    (wf / "config/grid-typo.yaml").write_text(yaml.safe_dump(smoke, sort_keys=False))
    proc = snakemake(wf, "-n", "--cores", "1", "report", "--configfile", "config/grid-typo.yaml")
    assert proc.returncode != 0 and "bach_size" in tail(proc), tail(proc)
    assert "Job stats" not in proc.stdout + proc.stderr


def test_changing_one_variant_reruns_that_variant_only(tmp_path):
    """Every job of the grid marked complete, then one variant's override changes: only its
    chain reruns. `--touch` on missing outputs records each job's params without creating
    files; the files are then created empty and touched again into DAG order."""
    wf = copy_workflow(tmp_path / "repo")
    cfg = "config/experiments/ablations-smoke.yaml"
    mark_complete(wf, "--configfile", cfg)
    assert _dry_run(wf, cfg) == {}, "a touched workflow should have nothing to do"
    smoke = yaml.safe_load((ROOT / cfg).read_text())
    smoke["experiments"]["ablations-smoke"]["variants"]["no-ema"] = {
        "train": {"ema": False, "lr": 1.0e-3}
    }
    (wf / "config/grid-edit.yaml").write_text(yaml.safe_dump(smoke, sort_keys=False))
    edited = snakemake(wf, "-n", "--cores", "2", "report", "--configfile", "config/grid-edit.yaml")
    assert edited.returncode == 0, tail(edited)
    jobs = planned_jobs(edited.stdout + edited.stderr)
    assert jobs == {"train": 1, "predict": 1, "score": 1, "score_grid": 1, "report": 1}
    outputs = planned_outputs(edited.stdout + edited.stderr)
    assert "runs/ablations-smoke.no-ema/train" in outputs
    assert not [p for p in outputs if "trm-mlp" in p or "single-z" in p or ".hrm/" in p]
