"""The CI test config on a real Slurm cluster through profiles/slurm-ci.

.ci/run starts a single-node cluster (../shared/tools/slurm/start-slurm.sh: partition debug,
1 fake GPU, no accounting) and sets TRM_REQUIRE_SLURM=1; without a cluster this test skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from workflow_helpers import EXPECTED_CI_JOBS, ci_run, metric_numbers

# Runs a whole workflow (the shared CI run is made by whichever test asks first): 30 min.
pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(1800)]
GPU_RULES = {"train", "predict", "bench"}


def _cluster_up() -> str | None:
    """None when a Slurm cluster answers, else why not."""
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        return "Slurm client commands (sbatch, squeue) are not installed"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%P %a %D"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"sinfo failed: {e}"
    if proc.returncode != 0 or "up" not in proc.stdout:
        return f"no Slurm partition is up (sinfo: {proc.stdout.strip() or proc.stderr.strip()})"
    return None


@pytest.fixture(scope="module")
def slurm_run():
    why = _cluster_up()
    if why:
        if os.environ.get("TRM_REQUIRE_SLURM"):
            pytest.fail(f"TRM_REQUIRE_SLURM is set but {why}")
        pytest.skip(f"{why}; .ci/run starts one with ../shared/tools/slurm/start-slurm.sh")
    return ci_run("slurm", ("--profile", "profiles/slurm-ci"), timeout=1500)


def _records(workdir):
    return json.loads((workdir / "reports/provenance.json").read_text())["records"]


def test_every_job_ran_as_a_slurm_job(slurm_run):
    records = _records(slurm_run)
    rules: dict[str, int] = {}
    for rec in records:
        rules[rec["rule"]] = rules.get(rec["rule"], 0) + 1
        assert rec["scheduler"]["SLURM_JOB_ID"], f"{rec['id']} did not run under Slurm"
    assert rules == EXPECTED_CI_JOBS
    assert len({r["scheduler"]["SLURM_JOB_ID"] for r in records}) == len(records)


def test_gpu_rules_requested_gpus(slurm_run):
    for rec in _records(slurm_run):
        if rec["rule"] in GPU_RULES:
            assert rec["resources"].get("gpu") == 1, rec["id"]
            # Slurm granted the job a GPU: it set CUDA_VISIBLE_DEVICES for it.
            assert rec["environment"]["cuda_visible_devices"] not in (None, ""), rec["id"]
            job = subprocess.run(
                ["scontrol", "show", "job", rec["scheduler"]["SLURM_JOB_ID"]],
                capture_output=True,
                text=True,
            )
            if job.returncode == 0:  # still within MinJobAge
                assert "gpu" in job.stdout, job.stdout
        else:
            assert not rec["resources"].get("gpu"), rec["id"]


def test_report_equals_the_local_run(slurm_run):
    local = ci_run("local")
    assert metric_numbers(slurm_run) == metric_numbers(local)
    html = (slurm_run / "reports/report.html").read_text()
    assert "Slurm job" in html
