"""The workflow's config checks and DAG, by dry run (fast: no job runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from workflow_helpers import ROOT, copy_workflow, planned_jobs, snakemake, tail


@pytest.fixture(scope="module")
def wf(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("wf") / "repo")


def _with_config(wf: Path, name: str, edit) -> str:
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    edit(cfg)
    path = wf / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return f"config/{name}.yaml"


def _assert_fails_before_any_job(wf: Path, cfg: str, *needles: str) -> None:
    proc = snakemake(wf, "-n", "--cores", "1", "report", "--configfile", cfg)
    out = tail(proc)
    assert proc.returncode != 0, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in:\n{out}"
    assert "Job stats" not in proc.stdout + proc.stderr, "jobs were planned"
    assert not (wf / "data").exists() and not (wf / "runs").exists()


def test_default_config_plans_every_stage(wf):
    proc = snakemake(wf, "-n", "--cores", "2", "report")
    assert proc.returncode == 0, tail(proc)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs == {
        "prepare_arc": 1,
        "prepare_sudoku": 1,
        "train": 2,
        "predict": 2,
        "score": 3,
        "score_compare": 1,
        "sweep": 1,
        "bench": 2,
        "report": 1,
    }


def test_unknown_key_is_named(wf):
    cfg = _with_config(
        wf, "typo", lambda c: c["experiments"]["arc-smoke"]["dataset"].update(nmu_aug=8)
    )
    _assert_fails_before_any_job(wf, cfg, "nmu_aug")


def test_wrong_type_is_named(wf):
    cfg = _with_config(wf, "type", lambda c: c["experiments"]["arc-smoke"].update(gpus="two"))
    _assert_fails_before_any_job(wf, cfg, "two", "gpus")


def test_negative_sweep_level_is_rejected(wf):
    cfg = _with_config(
        wf, "neg", lambda c: c["experiments"]["arc-smoke"]["sweep"].update(levels=[0, -4])
    )
    _assert_fails_before_any_job(wf, cfg, "-4", "levels")


def test_missing_checkpoint_is_named(wf):
    def edit(c):
        # A new experiment: configs merge into config.yaml, so arc-smoke keeps its `train`.
        e = dict(c["experiments"]["arc-smoke"])
        del e["train"]
        e["checkpoint"] = {"name": "mine", "path": "/nonexistent/ckpt", "file": "step_10"}
        c["experiments"] = {"mine": e}
        c["run"] = ["mine"]

    cfg = _with_config(wf, "ckpt", edit)
    _assert_fails_before_any_job(wf, cfg, "checkpoint not found", "/nonexistent/ckpt/step_10")


def test_unknown_experiment_in_run_is_named(wf):
    cfg = _with_config(wf, "run", lambda c: c.update(run=["arc-smoke", "arc-smok"]))
    _assert_fails_before_any_job(wf, cfg, "arc-smok", "not defined")


def test_sweep_levels_above_num_aug_are_rejected(wf):
    cfg = _with_config(
        wf, "lv", lambda c: c["experiments"]["arc-smoke"]["sweep"].update(levels=[0, 64])
    )
    _assert_fails_before_any_job(wf, cfg, "64", "num_aug")


@pytest.mark.parametrize(
    "name",
    # grids (`variants:`) plan one chain per variant: tests/test_grids.py
    sorted(
        p.stem
        for p in (ROOT / "config/experiments").glob("*.yaml")
        if "variants:" not in p.read_text()
    ),
)
def test_paper_experiment_configs_plan_a_dag(wf, name):
    if not (ROOT.parent / "shared" / "arc-kaggle-combined").exists() and name.startswith("arc"):
        pytest.skip("../shared/arc-kaggle-combined is absent (CI always has it)")
    proc = snakemake(
        wf, "-n", "--cores", "2", "report", "--configfile", f"config/experiments/{name}.yaml"
    )
    assert proc.returncode == 0, tail(proc)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    cfg = yaml.safe_load((ROOT / f"config/experiments/{name}.yaml").read_text())["experiments"][
        name
    ]
    assert jobs.get("fetch_checkpoint", 0) == (1 if "checkpoint" in cfg else 0)
    assert jobs.get("train", 0) == (1 if "train" in cfg else 0)
    assert jobs["predict"] == 1 and jobs["report"] == 1
    assert jobs["score"] == (2 if cfg["dataset"]["kind"] == "arc" else 1)
    assert jobs.get("score_compare", 0) == (1 if cfg["dataset"]["kind"] == "arc" else 0)
    assert sum(v for k, v in jobs.items() if k.startswith("prepare_")) == 1


def test_multi_gpu_training_uses_torchrun(wf):
    proc = snakemake(
        wf,
        "-n",
        "--cores",
        "2",
        "runs/arc1-train/train.provenance.json",
        "--configfile",
        "config/experiments/arc1-train.yaml",
    )
    if proc.returncode != 0 and "input_prefix: missing file" in tail(proc):
        pytest.skip("../shared/arc-kaggle-combined is absent (CI always has it)")
    assert proc.returncode == 0, tail(proc)
    assert "gpu=4" in proc.stdout + proc.stderr
    src = (ROOT / "workflow/scripts/train.py").read_text()
    assert "torch.distributed.run" in src and "--nproc-per-node" in src
