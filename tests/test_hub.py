"""trm fetch-checkpoint and checkpoint resolution.

The offline tests write a Hub cache in huggingface_hub's own layout and run the real
snapshot_download in a subprocess with HF_HUB_OFFLINE=1 (the library reads it at import).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from trm.hub import fetch_checkpoint
from trm.model.build import model_config, parse_overrides
from trm.model.checkpoint import read_arch_config, resolve_checkpoint

REPO_ID = "arcprize/trm_arc_prize_verification"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ALL_CONFIG = """\
arch:
  H_cycles: 2
  H_layers: 0
  L_cycles: 3
  L_layers: 2
  expansion: 4
  forward_dtype: bfloat16
  halt_exploration_prob: 0.1
  halt_max_steps: 4
  hidden_size: 64
  loss:
    loss_type: stablemax_cross_entropy
    name: losses@ACTLossHead
  mlp_t: false
  name: recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1
  no_ACT_continue: true
  num_heads: 4
  pos_encodings: rope
  puzzle_emb_len: 4
  puzzle_emb_ndim: 64
global_batch_size: 768
lr: 0.0001
"""


def _write_hf_cache(cache: Path, files: dict[str, bytes]) -> None:
    """The layout huggingface_hub uses: blobs/<sha>, snapshots/<commit>/<path> -> blob, refs/main."""
    repo = cache / ("models--" + REPO_ID.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for rel, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / digest).write_bytes(data)
        link = repo / "snapshots" / COMMIT / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(repo / "blobs" / digest, link.parent))


def _files() -> dict[str, bytes]:
    return {
        "arc_v1_public/step_100": b"weights-100",
        "arc_v1_public/step_200": b"weights-200",
        "arc_v1_public/all_config.yaml": ALL_CONFIG.encode(),
        "arc_v2_public/step_7": b"other",
        "README.md": b"readme",
    }


def _trm(
    args: list[str], env_extra: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "trm.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_fetch_offline_from_hub_cache(tmp_path: Path) -> None:
    cache = tmp_path / "hf"
    _write_hf_cache(cache, _files())
    out = tmp_path / "ckpt"
    r = _trm(
        [
            "fetch-checkpoint",
            "--repo-id",
            REPO_ID,
            "--include",
            "arc_v1_public/*",
            "--out",
            str(out),
        ],
        {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)},
    )
    assert r.returncode == 0, r.stderr
    record = json.loads((out / "checksums.json").read_text())
    assert record["kind"] == "hub" and record["commit"] == COMMIT
    want = {
        k: hashlib.sha256(v).hexdigest()
        for k, v in _files().items()
        if k.startswith("arc_v1_public/")
    }
    assert record["files"] == want
    assert not (out / "arc_v2_public").exists() and not (out / "README.md").exists()
    # real files, not links into the cache
    assert not (out / "arc_v1_public/step_200").is_symlink()
    assert (out / "arc_v1_public/step_200").read_bytes() == b"weights-200"
    # the fetched folder resolves to the highest step and its config
    weights, arch = resolve_checkpoint(out)
    assert weights == out / "arc_v1_public/step_200"
    assert (
        arch is not None and arch["hidden_size"] == 64 and "loss" not in arch and "name" not in arch
    )


def test_fetch_offline_uncached_fails_fast_with_hint(tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    t0 = time.monotonic()
    r = _trm(
        ["fetch-checkpoint", "--repo-id", REPO_ID, "--out", str(out)],
        {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache")},
    )
    assert time.monotonic() - t0 < 30
    assert r.returncode == 2
    assert "local path" in r.stderr and "--repo-id /path/to/ckpt" in r.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ckpt")] == []


def test_fetch_hanging_server_is_bounded(tmp_path: Path) -> None:
    """A server that accepts connections and never answers: the read timeout ends the call."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        port = srv.getsockname()[1]
        out = tmp_path / "ckpt"
        t0 = time.monotonic()
        r = _trm(
            ["fetch-checkpoint", "--repo-id", REPO_ID, "--out", str(out), "--timeout", "1"],
            {
                "HF_ENDPOINT": f"http://127.0.0.1:{port}",
                "HF_HUB_CACHE": str(tmp_path / "cache"),
                "HF_HUB_OFFLINE": "0",
                "NO_PROXY": "*",
            },
            timeout=60,
        )
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        th.join()
        for c in conns:
            c.close()
        srv.close()
    assert r.returncode == 2, r.stderr
    assert elapsed < 25  # the read timeout (1 s), not a hang
    assert "local path" in r.stderr
    assert not out.exists()


def test_fetch_local_path_and_expected_sha(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel, data in _files().items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    out = tmp_path / "ckpt"
    good = hashlib.sha256(b"weights-200").hexdigest()
    rec = fetch_checkpoint(
        str(src / "arc_v1_public"),
        out,
        expect_sha256=[good, f"all_config.yaml={hashlib.sha256(ALL_CONFIG.encode()).hexdigest()}"],
    )
    assert rec["kind"] == "local"
    assert set(rec["files"]) == {"step_100", "step_200", "all_config.yaml"}
    assert json.loads((out / "checksums.json").read_text())["files"] == rec["files"]

    # a mismatch is an error and leaves no output (a fresh destination)
    out2 = tmp_path / "ckpt2"
    with pytest.raises(ValueError, match=r"step_200: sha256 mismatch: expected 0{64}, got " + good):
        fetch_checkpoint(str(src / "arc_v1_public"), out2, expect_sha256=["0" * 64])
    assert not out2.exists()
    # the CLI reports it with exit status 2, and an earlier good fetch is left untouched, even
    # with --overwrite (the library call above wrote no command marker)
    r = _trm(
        [
            "fetch-checkpoint",
            "--path",
            str(src / "arc_v1_public"),
            "--out",
            str(out),
            "--expect-sha256",
            "step_100=" + "f" * 64,
            "--overwrite",
        ],
        {},
    )
    assert r.returncode == 2 and "step_100: sha256 mismatch" in r.stderr
    assert (out / "step_200").read_bytes() == b"weights-200"
    # an earlier checksums.json verifies a new fetch
    out3 = tmp_path / "ckpt3"
    fetch_checkpoint(str(src / "arc_v1_public"), out3, expect_sha256=[str(out / "checksums.json")])
    assert (out3 / "step_100").exists()
    # re-fetching a fetched folder: its old checksums.json is replaced, not listed
    rec4 = fetch_checkpoint(str(out3), tmp_path / "ckpt4")
    assert rec4["files"] == rec["files"]


def test_fetch_command_replaces_only_its_own_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trm.cli import main

    src = tmp_path / "src"
    src.mkdir()
    (src / "step_1").write_bytes(b"x")
    out = tmp_path / "ckpt"
    argv = ["fetch-checkpoint", "--path", str(src), "--no-progress", "--out"]
    assert main([*argv, str(out)]) == 0
    assert main([*argv, str(out)]) == 0  # its own earlier output: fetched again
    assert json.loads((out / "checksums.json").read_text())["files"] == {
        "step_1": hashlib.sha256(b"x").hexdigest()
    }
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main([*argv, str(foreign)]) == 2
    assert "not written by trm" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep"
    # a local source is an input, whether given as --path or as --repo-id
    assert main([*argv, str(src / "copy")]) == 2
    assert "is inside the input" in capsys.readouterr().err
    assert main(["fetch-checkpoint", "--repo-id", str(src), "--out", str(src / "copy")]) == 2
    assert "is inside the input" in capsys.readouterr().err and not (src / "copy").exists()
    for bad, named in (("-1", "is not a valid positive number"), ("nan", "not a finite number")):
        assert main([*argv, str(tmp_path / "o"), "--timeout", bad]) == 2
        err = capsys.readouterr().err
        assert f"--timeout: {float(bad)!r}" in err and named in err
        assert len(err.strip().splitlines()) == 1


def test_fetch_include_matches_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "step_1").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="no file in .* matches --include"):
        fetch_checkpoint(str(src), tmp_path / "out", include=["arc_v9/*"])
    with pytest.raises(FileNotFoundError, match="neither an existing local path nor a Hub repo id"):
        fetch_checkpoint(str(tmp_path / "missing" / "dir"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_resolve_checkpoint_variants(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for n in (5, 40, 300):
        torch.save({"w": torch.zeros(1)}, run / f"step_{n}")
    (run / "all_config.yaml").write_text(ALL_CONFIG)
    w, arch = resolve_checkpoint(run)
    assert w.name == "step_300" and arch["L_cycles"] == 3
    w, _ = resolve_checkpoint(run, step=40)
    assert w.name == "step_40"
    w, arch = resolve_checkpoint(run / "step_5")
    assert w.name == "step_5" and arch is not None
    with pytest.raises(FileNotFoundError, match=r"no step_7 .*have steps \[5, 40, 300\]"):
        resolve_checkpoint(run, step=7)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        resolve_checkpoint(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no step_N checkpoint"):
        resolve_checkpoint(empty)
    two = tmp_path / "two"
    for sub in ("a", "b"):
        (two / sub).mkdir(parents=True)
        torch.save({}, two / sub / "step_1")
    with pytest.raises(ValueError, match="several folders"):
        resolve_checkpoint(two)
    bare = tmp_path / "bare"
    bare.mkdir()
    torch.save({}, bare / "step_1")
    assert resolve_checkpoint(bare)[1] is None
    (bare / "all_config.yaml").write_text("arch: [1, 2\n")
    with pytest.raises(ValueError, match="malformed YAML"):
        resolve_checkpoint(bare)


def test_model_config_layering(tmp_path: Path) -> None:
    p = tmp_path / "all_config.yaml"
    p.write_text(ALL_CONFIG)
    arch = read_arch_config(p)
    cfg = model_config(
        arch,
        900,
        12,
        433,
        overrides=parse_overrides(["H_cycles=5", "mlp_t=true"]),
        forward_dtype="float32",
    )
    assert cfg["H_cycles"] == 5 and cfg["mlp_t"] is True and cfg["L_cycles"] == 3
    assert (cfg["seq_len"], cfg["vocab_size"], cfg["num_puzzle_identifiers"]) == (900, 12, 433)
    assert cfg["forward_dtype"] == "float32"
    with pytest.raises(ValueError, match="no all_config.yaml"):
        model_config(None, 900, 12, 433)
    assert model_config(None, 36, 12, 10, preset="tiny_golden")["hidden_size"] == 64
    with pytest.raises(ValueError, match="expected key=value"):
        parse_overrides(["hidden_size"])


def test_deadline_bounds_a_stuck_call() -> None:
    from trm.hub import _run_with_deadline

    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="stuck call did not finish within 0.2 s"):
        _run_with_deadline(lambda: time.sleep(5), 0.2, "stuck call")
    assert time.monotonic() - t0 < 2
    assert _run_with_deadline(lambda: 7, 1.0, "quick call") == 7
    with pytest.raises(KeyError):
        _run_with_deadline(lambda: {}["x"], 1.0, "failing call")


# ---- the published HRM checkpoints (sapientinc/HRM-checkpoint-*) -------------------------------

HRM_REPOS = (
    "sapientinc/HRM-checkpoint-ARC-2",
    "sapientinc/HRM-checkpoint-sudoku-extreme",
    "sapientinc/HRM-checkpoint-maze-30x30-hard",
)
HRM_GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "golden" / "arch" / "hrm.pt"


@pytest.mark.parametrize("repo_id", HRM_REPOS)
def test_published_hrm_checkpoint_fetches_and_predicts(tmp_path: Path, repo_id: str) -> None:
    """The HRM repo layout (a `checkpoint` state dict of a torch.compile'd run and its
    all_config.yaml naming hrm.hrm_act_v1) goes through `trm fetch-checkpoint` offline and
    `trm predict` reproduces the HRM golden's predictions."""
    import io

    import numpy as np
    import yaml
    from test_predict import _write_dataset

    if not HRM_GOLDEN.exists():
        pytest.skip(f"HRM golden fixture not found: {HRM_GOLDEN}")
    g = torch.load(HRM_GOLDEN, weights_only=False)
    cfg = g["config"]
    arch = {
        k: v
        for k, v in cfg.items()
        if k not in ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers", "arch")
    }
    arch.update(
        name="hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
        loss={"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"},
    )
    buf = io.BytesIO()
    torch.save(dict(g["state_dict"]), buf)
    files = {
        "checkpoint": buf.getvalue(),
        "all_config.yaml": yaml.safe_dump({"arch": arch, "global_batch_size": 768}).encode(),
        "README.md": b"readme",
    }
    cache = tmp_path / "hf"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for rel, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / digest).write_bytes(data)
        link = repo / "snapshots" / COMMIT / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(repo / "blobs" / digest, link.parent))
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    out = tmp_path / "ckpt"
    r = _trm(["fetch-checkpoint", "--repo-id", repo_id, "--out", str(out)], env)
    assert r.returncode == 0, r.stderr
    weights, saved = resolve_checkpoint(out)
    assert weights == out / "checkpoint" and saved is not None and saved["arch"] == "hrm"
    if repo_id != "sapientinc/HRM-checkpoint-sudoku-extreme":
        return  # same layout for all three: one prediction run checks the weights load right

    data = _write_dataset(tmp_path / "data", g)
    preds = tmp_path / "preds.npz"
    r = _trm(
        ["predict", "--checkpoint", str(out), "--data", str(data), "--out", str(preds)]
        + ["--device", "cpu", "--dtype", "float32", "--threads", "1", "--no-progress"],
        env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    got = np.load(preds)["preds"]
    want = g["eval_steps"][-1]["preds"].numpy()
    assert np.array_equal(got[: len(want)], want)
