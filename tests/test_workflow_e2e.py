"""The default workflow end to end on the CI test config, then incremental reruns by dry run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import (
    ARC_CI_ANALYSES_JOBS,
    CI_CONFIG,
    EXPECTED_CI_JOBS,
    ci_run,
    planned_jobs,
    snakemake,
    tail,
)

# Runs a whole workflow (the shared CI run is made by whichever test asks first): 30 min.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def run_dir() -> Path:
    return ci_run("local")


def test_report_has_every_section(run_dir):
    html = (run_dir / "reports/report.html").read_text()
    for exp in ("arc-ci", "sudoku-ci"):
        assert f'id="exp-{exp}"' in html
    for marker in (
        'class="summary-table"',
        'id="fig-arc-ci-acc_vs_aug"',
        'id="fig-arc-ci-votes"',
        'id="fig-arc-ci-training"',
        'id="fig-sudoku-ci-training"',
        'class="bench-table"',
        'class="manifest-table"',
        'id="environment"',
        "Smoke run",
        "Effective votes below 1000",
    ):
        assert marker in html, marker
    # Smoke runs: the paper's figures are not shown beside them (only in the claims ledger
    # that opens the page, with its "not comparable" verdict), and the page says why.
    sections = html[html.index('id="exp-') :]
    assert "44.6 %" in html[: html.index('id="exp-')]  # the ledger lists the claim
    assert "44.6 %" not in sections and "87.4 %" not in sections
    # the environment names the CPU and the instruction set torch uses (issue 20), as text
    env = html[html.index('id="environment"') :]
    assert "built-in method" not in env and "cpu model" in env and "cpu capability" in env
    assert html.count("Not comparable with the paper") == 2
    assert html.count('class="bench-table"') == 2
    # Provenance listed once per experiment; every table and figure links to it.
    assert html.count('class="provenance"') == 2
    assert html.count('class="sources"') >= 10
    assert not re.search(r'<img src="(?!data:image/png;base64,)', html), "figures must be embedded"


def test_provenance_is_complete(run_dir):
    bundle = json.loads((run_dir / "reports/provenance.json").read_text())
    rules = {}
    for rec in bundle["records"]:
        rules[rec["rule"]] = rules.get(rec["rule"], 0) + 1
        for key in (
            "wildcards",
            "params",
            "inputs",
            "outputs",
            "git",
            "packages",
            "environment",
            "host",
            "start",
            "end",
        ):
            assert key in rec, (rec["rule"], key)
        assert rec["outputs"] and all(o["sha256"] for o in rec["outputs"]), rec["id"]
        if rec["rule"] != "report":
            assert "SLURM_JOB_ID" in rec["scheduler"]
        assert rec["git"]["commit"], "code version recorded"
    assert rules == EXPECTED_CI_JOBS
    # Every job's record is also written beside its outputs.
    for rec in bundle["records"]:
        assert (run_dir / rec["record_path"]).exists()


def test_every_record_a_job_wrote_is_in_the_bundle(run_dir):
    """Every provenance record under data/, checkpoints/ and runs/ (preparation, training,
    predictions, scores, comparisons, analyses) is in reports/provenance.json."""
    bundle = json.loads((run_dir / "reports/provenance.json").read_text())
    bundled = {r["record_path"] for r in bundle["records"]}
    written = {
        p.relative_to(run_dir).as_posix()
        for top in ("data", "checkpoints", "runs")
        for p in (run_dir / top).rglob("*.provenance.json")
    }
    assert len(written) == sum(EXPECTED_CI_JOBS.values()) - 1  # all but the report's own
    assert written <= bundled, sorted(written - bundled)


def test_records_and_logs_hold_pasteable_command_lines_and_the_cpu(run_dir):
    import shlex

    bundle = json.loads((run_dir / "reports/provenance.json").read_text())
    for rec in bundle["records"]:
        assert shlex.split(rec["command_line"]) == rec["command"], rec["id"]
        env = rec["environment"]
        assert env["cpu_model"] and env["cpu_capability"], rec["id"]
        if rec["log"] is None:  # the report's own record (`trm report --record`)
            continue
        log = run_dir / rec["log"]
        dollar = [ln.split("] $ ", 1)[1] for ln in log.read_text().splitlines() if "] $ " in ln]
        assert shlex.split(dollar[-1]) == rec["command"], rec["id"]
    # the report's environment names the CPU kind each job ran on
    html = (run_dir / "reports/report.html").read_text()
    env = bundle["records"][0]["environment"]
    assert f"{env['cpu_model']}, {env['cpu_capability']}" in html


def test_the_report_spec_renders_by_hand_like_the_rule(run_dir, tmp_path):
    """Rule report wrote its spec and ran `trm report --spec`: a user can rerun it as it is."""
    spec = json.loads((run_dir / "reports/report.spec.json").read_text())
    assert [e["name"] for e in spec["experiments"]] == ["arc-ci", "sudoku-ci"]
    bundle = json.loads((run_dir / "reports/provenance.json").read_text())
    assert {r["record_path"] for r in bundle["records"]} == {
        *spec["records"],
        "reports/report.provenance.json",
    }
    cmd = [sys.executable, "-m", "trm.cli", "report", "--spec", "reports/report.spec.json"]
    cmd += ["--out", str(tmp_path / "r.html"), "--bundle", str(tmp_path / "b.json")]
    proc = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(json.loads((tmp_path / "b.json").read_text())["records"]) == len(spec["records"])


def test_audit_passes_and_catches_a_change(run_dir, tmp_path):
    cmd = [sys.executable, "-m", "trm.cli", "audit", "reports/provenance.json"]
    ok = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # Tamper with a copy of the bundle's root (the run itself stays intact for other tests).
    target = run_dir / "runs/arc-ci/acc_vs_aug.csv"
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\n")
        bad = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True)
        assert bad.returncode == 1 and "CHANGED runs/arc-ci/acc_vs_aug.csv" in bad.stderr
    finally:
        target.write_bytes(original)
        import os

        st = (run_dir / "runs/arc-ci/acc_vs_aug.provenance.json").stat()
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns - 1))


def test_second_dry_run_has_nothing_to_do(run_dir):
    proc = snakemake(run_dir, "-n", "--cores", "2", "report", "--configfile", CI_CONFIG)
    assert proc.returncode == 0, tail(proc)
    assert planned_jobs(proc.stdout + proc.stderr) == {}, tail(proc)


def _dry_run_with(run_dir: Path, name: str, overlay: dict) -> dict[str, int]:
    path = run_dir / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(overlay))
    proc = snakemake(
        run_dir, "-n", "--cores", "2", "report", "--configfile", CI_CONFIG, f"config/{name}.yaml"
    )
    assert proc.returncode == 0, tail(proc)
    return planned_jobs(proc.stdout + proc.stderr)


def test_new_sweep_levels_rerun_only_sweep_and_report(run_dir):
    jobs = _dry_run_with(
        run_dir, "levels", {"experiments": {"arc-ci": {"sweep": {"levels": [0, 2, 4]}}}}
    )
    assert jobs == {"sweep": 1, "report": 1}


def test_model_change_reruns_training_and_downstream_not_data(run_dir):
    jobs = _dry_run_with(
        run_dir, "model", {"experiments": {"arc-ci": {"model": {"hidden_size": 48}}}}
    )
    assert jobs == {
        "train": 1,
        "predict": 1,
        "score": 2,
        "score_compare": 1,
        "sweep": 1,
        "bench": 1,
        **ARC_CI_ANALYSES_JOBS,
        "report": 1,
    }


def test_num_aug_change_reruns_everything_downstream_of_that_dataset(run_dir):
    jobs = _dry_run_with(
        run_dir, "numaug", {"experiments": {"arc-ci": {"dataset": {"num_aug": 6}}}}
    )
    assert jobs == {
        "prepare_arc": 1,
        "train": 1,
        "predict": 1,
        "score": 2,
        "score_compare": 1,
        "sweep": 1,
        "bench": 1,
        **ARC_CI_ANALYSES_JOBS,
        "report": 1,
    }


def test_template_edit_rerenders_only_the_report(run_dir):
    captions = run_dir / "reports/templates/captions.yaml"
    original = captions.read_text()
    try:
        captions.write_text(original + "\n# edited\n")
        proc = snakemake(run_dir, "-n", "--cores", "2", "report", "--configfile", CI_CONFIG)
        assert planned_jobs(proc.stdout + proc.stderr) == {"report": 1}, tail(proc)
    finally:
        captions.write_text(original)


def test_snakemake_report_includes_the_flagged_report(run_dir):
    import zipfile

    proc = snakemake(
        run_dir, "--report", "snakemake-report.zip", "--configfile", CI_CONFIG, timeout=300
    )
    assert proc.returncode == 0, tail(proc)
    with zipfile.ZipFile(run_dir / "snakemake-report.zip") as z:
        names = z.namelist()
    # Snakemake's own index page plus our report, flagged with report() in rules/report.smk.
    assert sum(n.endswith("/report.html") for n in names) >= 2, names
