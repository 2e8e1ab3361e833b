"""Running the Snakemake workflow in a scratch copy of the repository (shared by workflow tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
WORKFLOW_FILES = (
    "Snakefile",
    "rules",
    "workflow",
    "config",
    "profiles",
    "envs",
    "reports/templates",
)


def copy_workflow(dest: Path) -> Path:
    """The workflow files (not data, runs or reports) copied into dest, so tests never touch the repo."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in WORKFLOW_FILES:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # ../shared next to the copy, as next to the checkout (experiment configs refer to it).
    if SHARED.exists() and not (dest.parent / "shared").exists():
        (dest.parent / "shared").symlink_to(SHARED)
    return dest


def snakemake(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env
    )


def planned_jobs(output: str) -> dict[str, int]:
    """{rule: count} from a dry run's 'Job stats' table ({} when there is nothing to do)."""
    if "Nothing to be done" in output:
        return {}
    m = re.search(r"Job stats:\n(.*?)\n\s*total\s+\d+", output, re.S)
    assert m, f"no job table in snakemake output:\n{output[-3000:]}"
    jobs = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs


def planned_outputs(output: str, *fields: str) -> list[str]:
    """The output paths of every job a dry run lists."""
    paths = []
    for line in output.splitlines():
        if line.strip().startswith(fields or ("output:",)):
            paths += [p.strip() for p in line.split(":", 1)[1].split(",") if p.strip()]
    return paths


def mark_complete(workdir: Path, *args: str) -> None:
    """Every job of `snakemake report *args` marked done without running it: `--touch` on
    missing outputs records each job's params, the files are created empty, and a second
    `--touch` puts them in DAG order. A later dry run then plans what an edit reruns."""
    plan = snakemake(workdir, "-n", "--cores", "2", "report", *args)
    assert plan.returncode == 0, tail(plan)
    proc = snakemake(workdir, "--cores", "2", "report", "--touch", *args)
    assert proc.returncode == 0, tail(proc)
    for path in planned_outputs(plan.stdout + plan.stderr, "output:", "benchmark:"):
        target = workdir / path
        if target.suffix:  # files; directory() outputs (data/<name>, runs/<exp>/train) have none
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        else:
            target.mkdir(parents=True, exist_ok=True)
    proc = snakemake(workdir, "--cores", "2", "report", "--touch", *args)
    assert proc.returncode == 0, tail(proc)


def tail(proc: subprocess.CompletedProcess, n: int = 4000) -> str:
    return (proc.stdout + "\n" + proc.stderr)[-n:]


CI_CONFIG = "config/test-ci.yaml"
# The cheap analyses (trajectory, puzzle-ID ablation with blank/random/mean identifiers), which
# test-ci's arc-ci and the default run's arc-generated both run (rules/analyses.smk).
CHEAP_ANALYSES_JOBS = {
    "analyse_trajectory": 1,
    "predict_ids": 3,  # puzzle_ids: blank, random, mean
    "score_ids": 6,
    "compare_ids": 2,
}
# Accuracy over training (analyses.checkpoints): both configs run it on their ARC experiment.
CHECKPOINTS_JOBS = {"analyse_checkpoints": 1}
# The analyses test-ci runs on arc-ci, all downstream of its training.
ARC_CI_ANALYSES_JOBS = {**CHEAP_ANALYSES_JOBS, "ensemble": 1, **CHECKPOINTS_JOBS}
# One ARC and one Sudoku experiment through every stage (both configs have this shape).
_TWO_EXPERIMENT_JOBS = {
    "prepare_arc": 1,
    "prepare_grid": 1,
    "train": 2,
    "predict": 2,
    "score": 3,  # ARC in paper and single mode, Sudoku once
    "score_compare": 1,
    "sweep": 1,
    "bench": 2,
    "report": 1,
}
EXPECTED_CI_JOBS = {**_TWO_EXPERIMENT_JOBS, **ARC_CI_ANALYSES_JOBS}
# The default run (config/config.yaml: arc-generated with its cheap analyses, sudoku-smoke).
EXPECTED_DEFAULT_JOBS = {
    **_TWO_EXPERIMENT_JOBS,
    "generate_arc_tasks": 1,
    **CHEAP_ANALYSES_JOBS,
    **CHECKPOINTS_JOBS,
}
_RUNS: dict[str, Path] = {}


def ci_run(kind: str = "local", profile_args: tuple[str, ...] = (), timeout: float = 1500) -> Path:
    """Run the CI test config to the report once per test session (shared by test files)."""
    if kind in _RUNS:
        return _RUNS[kind]
    import atexit
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix=f"trm-wf-{kind}-"))
    if not os.environ.get("TRM_KEEP_WORKFLOW_RUNS"):  # set it to inspect the runs afterwards
        atexit.register(shutil.rmtree, scratch, True)
    workdir = copy_workflow(scratch / "repo")
    args = ["report", "--configfile", CI_CONFIG, *profile_args]
    if not profile_args:
        args = ["--cores", "2", *args]
    proc = snakemake(workdir, *args, timeout=timeout)
    (workdir / "snakemake-run.log").write_text(proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0:
        raise AssertionError(f"workflow run ({kind}) failed in {workdir}:\n{tail(proc, 6000)}")
    _RUNS[kind] = workdir
    return workdir


def metric_numbers(workdir: Path) -> dict[str, object]:
    """Every number the report shows that a rerun must reproduce: metrics.json files and the sweep."""
    import json

    out: dict[str, object] = {}
    for p in sorted((workdir / "runs").glob("*/scores/*/metrics.json")):
        out[str(p.relative_to(workdir))] = json.loads(p.read_text())
    for p in sorted((workdir / "runs").glob("*/acc_vs_aug.csv")):
        out[str(p.relative_to(workdir))] = p.read_text()
    return out


class Named(dict):
    """A stand-in for Snakemake's named lists: attribute access, items() and iteration."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self):
        return iter(self.values())
