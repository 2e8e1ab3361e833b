"""Shared CSV plumbing: source specs, CSV reading errors, seeded subsampling and the Hugging Face
path, tested offline against a cache written in huggingface_hub's own layout."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trm.data import puzzle_csv as pc
from trm.data.format import load_split
from trm.data.sudoku import generate_sudoku_records

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_parse_source() -> None:
    assert pc.parse_source("generate") == pc.SourceSpec("generate")
    assert pc.parse_source("hf:sapientinc/sudoku-extreme") == pc.SourceSpec(
        "hf", "sapientinc/sudoku-extreme"
    )
    assert pc.parse_source("hf:a/b@v1.0") == pc.SourceSpec("hf", "a/b", "v1.0")
    assert pc.parse_source("csv:/x/y") == pc.SourceSpec("csv", "/x/y")
    for bad in ("hf:", "hf:noslash", "hf:a/b/c", "s3:bucket", "csv:", "generated"):
        with pytest.raises(ValueError, match="--source"):
            pc.parse_source(bad)


def test_read_and_write_roundtrip(tmp_path: Path) -> None:
    records = [("src,with comma", "1.3.", "1234", 3), ("b", 'q"x', "a", 0)]
    path = tmp_path / "t.csv"
    pc.write_puzzle_csv(path, records)
    rows = pc.read_puzzle_csv(path)
    assert rows.sources == ["src,with comma", "b"] and rows.questions == ["1.3.", 'q"x']
    assert rows.ratings == ["3", "0"] and rows.lines == [2, 3]
    assert rows.where(1, "q") == f"{path} line 3 (puzzle source 'b'), field 'q'"
    assert (pc.parse_ratings(rows) == [3, 0]).all()


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="puzzle CSV not found"):
        pc.read_puzzle_csv(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(pc.PuzzleCsvError, match="empty file"):
        pc.read_puzzle_csv(empty)
    header = tmp_path / "header.csv"
    header.write_text("source,q,a\nx,y,z\n")
    with pytest.raises(pc.PuzzleCsvError, match=r"header.csv line 1: header has 3 columns"):
        pc.read_puzzle_csv(header)
    short = tmp_path / "short.csv"
    short.write_text("source,q,a,rating\nx,1,2,3\n\nx,1,2\n")
    with pytest.raises(pc.PuzzleCsvError, match=r"short.csv line 4: 3 fields, expected 4"):
        pc.read_puzzle_csv(short)


def test_seeded_subsample() -> None:
    a = pc.subsample_indices(100, 10, pc.rng_for(1, pc.STREAM_SUBSAMPLE))
    b = pc.subsample_indices(100, 10, pc.rng_for(1, pc.STREAM_SUBSAMPLE))
    c = pc.subsample_indices(100, 10, pc.rng_for(2, pc.STREAM_SUBSAMPLE))
    assert (a == b).all() and len(set(a.tolist())) == 10 and not (a == c).all()
    assert pc.subsample_indices(10, 10, pc.rng_for(1, 2)) is None
    assert pc.subsample_indices(10, None, pc.rng_for(1, 2)) is None


def test_hf_commit_of() -> None:
    p = Path("/c/datasets--a--b/snapshots/abc123/train.csv")
    assert pc.hf_commit_of(p) == "abc123"
    assert pc.hf_commit_of(Path("/x/train.csv")) is None


# ---------------------------------------------------------------------------------------------
# Hugging Face path, offline


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def write_hf_cache(cache: Path, repo_id: str, files: dict[str, bytes]) -> None:
    """A dataset repo in huggingface_hub's cache layout: blobs by hash, a snapshot folder of
    symlinks for one commit, and refs/main naming that commit."""
    repo_dir = cache / f"datasets--{repo_id.replace('/', '--')}"
    (repo_dir / "blobs").mkdir(parents=True)
    (repo_dir / "snapshots" / COMMIT).mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(COMMIT)
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (repo_dir / "blobs" / blob).write_bytes(data)
        (repo_dir / "snapshots" / COMMIT / name).symlink_to(Path("..", "..", "blobs", blob))


def csv_bytes(records: list[tuple[str, str, str, int]]) -> bytes:
    lines = ["source,question,answer,rating"] + [",".join(map(str, r)) for r in records]
    return ("\n".join(lines) + "\n").encode()


def run_trm_offline(cache: Path, *args: str) -> subprocess.CompletedProcess:
    """`trm` in a fresh interpreter, so huggingface_hub reads HF_HUB_OFFLINE/HF_HUB_CACHE at import."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(cache),
        "HF_HOME": str(cache.parent / "hf-home"),
    }
    env.pop("HF_HUB_DISABLE_SYMLINKS", None)
    return subprocess.run(
        [sys.executable, "-m", "trm.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_hf_source_from_offline_cache(tmp_path: Path) -> None:
    records = generate_sudoku_records(4, 9, seed=0, progress=False)
    train, test = csv_bytes(records[:6]), csv_bytes(records[6:])
    cache = tmp_path / "hub"
    write_hf_cache(cache, "someorg/sudoku-tiny", {"train.csv": train, "test.csv": test})
    out = tmp_path / "ds"
    proc = run_trm_offline(
        cache, "prepare", "sudoku", "--source", "hf:someorg/sudoku-tiny", "--num-aug", "2",
        "--seed", "0", "--out", str(out), "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [i["name"] for i in manifest["inputs"]] == [
        f"hf:someorg/sudoku-tiny@{COMMIT}/train.csv",
        f"hf:someorg/sudoku-tiny@{COMMIT}/test.csv",
    ]
    assert [i["sha256"] for i in manifest["inputs"]] == [
        hashlib.sha256(train).hexdigest(),
        hashlib.sha256(test).hexdigest(),
    ]
    assert (
        manifest["counts"]["train"]["examples"] == 18
        and manifest["counts"]["test"]["examples"] == 3
    )
    # the arrays hold the cached puzzles, tokens = digit + 1 (blank 1)
    expected = np.array([[0 if ch == "." else int(ch) for ch in r[1]] for r in records[6:]]) + 1
    assert (load_split(out, "test")["inputs"] == expected).all()


def test_hf_source_uncached_offline_fails_fast_with_advice(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    out = tmp_path / "ds"
    proc = run_trm_offline(
        cache, "prepare", "maze", "--source", "hf:someorg/not-cached", "--out", str(out)
    )
    assert proc.returncode == 2
    assert "hf:someorg/not-cached file 'train.csv'" in proc.stderr
    assert "not in the local Hugging Face cache" in proc.stderr
    assert "--source generate" in proc.stderr and "--source csv:DIR" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["hub"]


def test_hf_download_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import huggingface_hub

    release = threading.Event()

    def hanging_download(*args: object, **kwargs: object) -> str:
        release.wait(10)
        return "/never"

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hanging_download)
    try:
        with pytest.raises(
            pc.DatasetSourceError, match=r"did not finish within 0.2 s; use --source generate"
        ):
            pc.hf_download("a/b", "train.csv", timeout_s=0.2)
    finally:
        release.set()


def test_csv_source_missing_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    pc.write_puzzle_csv(tmp_path / "d" / "train.csv", [])
    with pytest.raises(FileNotFoundError, match=r"test.csv not found"):
        pc.resolve_split_files(pc.parse_source(f"csv:{tmp_path / 'd'}"))
    # header-only files are read as zero rows
    rows = pc.read_puzzle_csv(tmp_path / "d" / "train.csv")
    assert len(rows) == 0
    with open(tmp_path / "d" / "train.csv") as f:
        assert next(csv.reader(f)) == list(pc.CSV_HEADER)
