"""Provenance records, hash reuse, lineage and `trm audit`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from trm import provenance
from trm.utils import sha256_file, write_json
from trm.workflow.run_job import JobFailedError, run_logged

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
    with pytest.raises(JobFailedError, match="job.log") as e:
        run_logged([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], log)
    assert "boom" in log.read_text()
    assert "exit status 3" in str(e.value) and "\n" not in str(e.value)


# ---- command lines as a shell takes them (copy-paste runs nothing extra) -------------------------

# A folder name holding everything a shell would act on: ; $(...) `...` quotes, spaces, glob, &.
HOSTILE = "out dir;touch PWNED_A $(touch PWNED_B) `touch PWNED_C` 'q\" & touch PWNED_D *"


def pasted_args(line: str, cwd: Path, program: str) -> list[str]:
    """The words bash gives `program` when `line` is pasted into it (program replaced by a
    function that prints them); asserts that pasting ran nothing else."""
    script = f'{program}() {{ builtin printf "%s\\0" "$@"; }}\n{line}\n'
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert not list(cwd.glob("PWNED*")), "pasting the line ran a command"
    return proc.stdout.decode().split("\0")[:-1]


def test_record_has_the_command_line_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["trm", "score", "arc", "--predictions", f"{HOSTILE}/p.npz", "--out", HOSTILE]
    rec = provenance.make_record(
        rule="score",
        wildcards={},
        params={},
        inputs=[],
        outputs=[],
        start="s",
        end="e",
        command=argv,
        repo_dir=ROOT,
    )
    assert rec["command"] == argv  # the argv list is kept, beside the line
    assert shlex.split(rec["command_line"]) == argv
    assert pasted_args(rec["command_line"], tmp_path, "trm") == argv[1:]


def test_log_shows_the_command_line_quoted(tmp_path):
    log = tmp_path / "job.log"
    argv = ["printf", "%s\\n", HOSTILE, "--out", f"{HOSTILE}/x"]
    run_logged(argv, log)
    dollar = next(ln for ln in log.read_text().splitlines() if "] $ " in ln)
    line = dollar.split("] $ ", 1)[1]
    assert shlex.split(line) == argv
    assert pasted_args(line, tmp_path, "printf") == argv[1:]


@pytest.mark.parametrize("kind", ["sudoku", "arc-tasks"])
def test_manifest_command_is_quoted(tmp_path, kind):
    out = tmp_path / HOSTILE
    args = {
        "sudoku": ["--source", "generate", "--size", "4", "--num", "8", "--num-test", "4"],
        "arc-tasks": ["--tasks", "training=2", "evaluation=2"],
    }[kind]
    cmd = [sys.executable, "-m", "trm.cli", "prepare", kind, *args, "--out", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stderr
    line = json.loads((out / "manifest.json").read_text())["command"]
    words = shlex.split(line)
    assert words[:3] == ["trm", "prepare", kind] and words[words.index("--out") + 1] == str(out)
    assert pasted_args(line, tmp_path, "trm") == words[1:]


def test_report_shows_a_manifest_command_quoted(tmp_path):
    from trm.report.manifest import manifest_summary

    argv = ["trm", "prepare", "sudoku", "--out", HOSTILE]
    for command in (argv, shlex.join(argv)):  # an argv list (older manifests) or the line
        write_json(tmp_path / "manifest.json", {"command": command, "outputs": []})
        shown = manifest_summary(tmp_path)["command"]
        assert shlex.split(shown) == argv
        assert pasted_args(shown, tmp_path, "trm") == argv[1:]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


# ---- the machine a number was measured on ------------------------------------------------------


def test_records_name_the_cpu_model_and_torch_instruction_set(chain_dir):
    import torch

    env = json.loads((chain_dir / "predict.provenance.json").read_text())["environment"]
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    model = provenance.cpu_model()
    assert env["cpu_model"] == model and model
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and "model name" in cpuinfo.read_text():
        line = next(ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name"))
        assert model == line.split(":", 1)[1].strip()
    if not torch.cuda.is_available():  # the device each job ran on says which CPU kind
        assert model in env["device"] and env["cpu_capability"] in env["device"]


def test_cpu_model_falls_back_to_lscpu_then_the_platform(tmp_path, monkeypatch):
    import platform

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lscpu = bin_dir / "lscpu"
    lscpu.write_text(
        "#!/bin/sh\necho 'Architecture:  aarch64'\necho 'Model name:    Neoverse-V2'\n"
    )
    lscpu.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    no_cpuinfo = str(tmp_path / "missing")
    assert provenance.cpu_model(no_cpuinfo) == "Neoverse-V2"
    lscpu.unlink()
    assert provenance.cpu_model(no_cpuinfo) == (platform.processor() or platform.machine())
    arm = tmp_path / "cpuinfo"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd4f\n")  # no model name
    assert provenance.cpu_model(str(arm)) == (platform.processor() or platform.machine())
