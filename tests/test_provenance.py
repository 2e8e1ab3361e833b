"""Provenance records, hash reuse, lineage and `trm audit`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trm import provenance
from trm.utils import sha256_file, write_json

ROOT = Path(__file__).resolve().parents[1]


def _job(tmp: Path, rule: str, inputs: list[str], outputs: dict[str, str], wildcards=None) -> str:
    """Write outputs, then a record beside them, like a workflow job does."""
    for rel, text in outputs.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    rec = provenance.make_record(
        rule=rule,
        wildcards=wildcards or {},
        params={"levels": [0, 1]},
        inputs=inputs,
        outputs=list(outputs),
        start=provenance.now_iso(),
        end=provenance.now_iso(),
        repo_dir=ROOT,
    )
    path = f"{rule}.provenance.json"
    provenance.write_record(path, rec)
    return path


@pytest.fixture()
def chain_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    r1 = _job(tmp_path, "prepare", [], {"data/d/a.npy": "A", "data/d/b.npy": "B"}, {"dataset": "d"})
    r2 = _job(tmp_path, "predict", ["data/d", r1], {"runs/e/predictions.npz": "P"}, {"exp": "e"})
    r3 = _job(
        tmp_path,
        "score",
        ["runs/e/predictions.npz", r2],
        {"runs/e/metrics.json": "{}"},
        {"exp": "e"},
    )
    bundle = provenance.collect([r1, r2, r3], bundle_path="reports/provenance.json")
    write_json("reports/provenance.json", bundle)
    return tmp_path


def test_record_has_every_field(chain_dir):
    rec = json.loads((chain_dir / "predict.provenance.json").read_text())
    for key in (
        "rule",
        "wildcards",
        "params",
        "inputs",
        "outputs",
        "git",
        "packages",
        "environment",
        "host",
        "scheduler",
        "start",
        "end",
    ):
        assert key in rec, key
    assert rec["scheduler"]["SLURM_JOB_ID"] == "4242"
    assert rec["git"]["commit"] and len(rec["git"]["commit"]) == 40
    assert isinstance(rec["git"]["dirty"], bool)
    assert rec["packages"]["trm-repro"]
    assert "torch" in rec["environment"]
    # A folder input is expanded to its files, each with the true sha256.
    paths = {e["path"]: e["sha256"] for e in rec["inputs"]}
    assert paths["data/d/a.npy"] == sha256_file(chain_dir / "data/d/a.npy")
    assert rec["outputs"][0]["path"] == "runs/e/predictions.npz"


def test_lineage_walks_upstream_in_order(chain_dir):
    bundle = json.loads((chain_dir / "reports/provenance.json").read_text())
    chain = provenance.lineage(bundle, ["runs/e/metrics.json"])
    assert [r["rule"] for r in chain] == ["prepare", "predict", "score"]
    assert provenance.lineage(bundle, ["data/d"])[0]["rule"] == "prepare"


def test_audit_passes_then_names_changed_and_missing_files(chain_dir):
    assert provenance.audit("reports/provenance.json") == []
    (chain_dir / "data/d/a.npy").write_text("tampered")
    os.remove(chain_dir / "runs/e/metrics.json")
    problems = provenance.audit("reports/provenance.json")
    assert any(p.startswith("CHANGED data/d/a.npy") for p in problems), problems
    assert any(p.startswith("MISSING runs/e/metrics.json") for p in problems), problems
    assert len(problems) == 2


def test_audit_cli_exit_status_and_message(chain_dir):
    cmd = [sys.executable, "-m", "trm.cli", "audit", "reports/provenance.json"]
    ok = subprocess.run(cmd, capture_output=True, text=True, cwd=chain_dir)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    (chain_dir / "runs/e/predictions.npz").write_text("other")
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=chain_dir)
    assert bad.returncode == 1
    assert "CHANGED runs/e/predictions.npz" in bad.stderr


def test_audit_names_the_job_that_wrote_a_changed_file(chain_dir):
    """A changed file is attributed to the job that produced it, not to a job that read it,
    whatever order the records have in the bundle (a report consumes everything)."""
    bundle = json.loads((chain_dir / "reports/provenance.json").read_text())
    bundle["records"] = bundle["records"][::-1]  # the consumer (score) first
    write_json(chain_dir / "reports/provenance.json", bundle)
    (chain_dir / "runs/e/predictions.npz").write_text("other")
    (problem,) = provenance.audit("reports/provenance.json")
    assert problem.startswith("CHANGED runs/e/predictions.npz: written by predict[exp=e]"), problem
    assert "score" not in problem
    # The last job of the chain wrote its output: named as its writer too.
    (chain_dir / "runs/e/predictions.npz").write_text("P")
    (chain_dir / "runs/e/metrics.json").write_text("[]")
    (problem,) = provenance.audit("reports/provenance.json")
    assert "written by score[exp=e]" in problem, problem


def test_audit_finds_root_after_the_project_moves(chain_dir, tmp_path_factory, monkeypatch):
    moved = tmp_path_factory.mktemp("moved") / "proj"
    chain_dir.rename(moved)
    monkeypatch.chdir("/")
    assert provenance.audit(moved / "reports/provenance.json") == []


def test_audit_rejects_a_file_that_is_not_a_bundle(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a provenance bundle"):
        provenance.audit(p)


def test_hash_reuse_from_manifest_and_records(tmp_path, monkeypatch):
    """Known hashes are reused while a file is unchanged; a changed file is hashed again."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.npy").write_text("12345")
    # A manifest stating a deliberately wrong hash proves reuse (no re-hash) happened.
    write_json(
        data / "manifest.json", {"outputs": [{"path": "x.npy", "size": 5, "sha256": "f" * 64}]}
    )
    entries = {e["path"]: e["sha256"] for e in provenance.file_entries(["data"])}
    assert entries["data/x.npy"] == "f" * 64
    # Modified after the manifest: hashed again.
    (data / "x.npy").write_text("67890")
    st = os.stat(data / "manifest.json")
    os.utime(data / "x.npy", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    entries = {e["path"]: e["sha256"] for e in provenance.file_entries(["data"])}
    assert entries["data/x.npy"] == sha256_file(data / "x.npy")


def test_run_logged_names_the_log_on_failure(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(RuntimeError, match="job.log"):
        provenance.run_logged([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], log)
    assert "boom" in log.read_text()
