"""Two writers of one predictions file, and a writer killed at any point: the second fails at
once with one line and leaves the first's shards alone; the next run after a SIGKILL resumes
(or removes) what the dead run left, and its file equals an uninterrupted run's, byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_predict import one_thread, setup  # noqa: F401 (fixtures)

from trm import outputs
from trm.cli import main
from trm.cli.predict import COMMAND
from trm.eval.predict import shards_dir_for

# A `trm predict` process that stops itself at a chosen point: killed (SIGKILL, no cleanup)
# after N shards or right after the merge, or paused after N shards until a file appears.
DRIVER = r"""
import os, signal, sys, time
from pathlib import Path
import trm.eval.predict.run as R
import trm.eval.predict.shards as S
from trm.cli import main

how, n, flag = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
done = [0]

def after_shard(a, b):
    done[0] += 1
    if done[0] != n:
        return
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "pause":
        flag.with_suffix(".ready").write_text("")
        for _ in range(1200):
            if flag.exists():
                return
            time.sleep(0.05)

predict = R._predict
R._predict = lambda *a: predict(*a[:-1], after_shard)
merge = S.merge_shards

def merge_then_die(*a, **k):
    merge(*a, **k)
    os.kill(os.getpid(), signal.SIGKILL)

if how == "kill-after-merge":
    S.merge_shards = merge_then_die
sys.exit(main(sys.argv[4:]))
"""

# 5 shards of 8 rows: the same batches as the reference run (batch 8), so the same bits.
ARGS = ["--batch-size", "8", "--shard-batches", "1", "--device", "cpu", "--threads", "1"]


def _argv(setup: dict, out: Path) -> list[str]:  # noqa: F811
    paths = {"--checkpoint": setup["run"], "--data": setup["data"], "--out": out}
    return ["predict", "--no-progress", *ARGS, *(w for k, v in paths.items() for w in (k, str(v)))]


def _driver(how: str, n: int, flag: Path, argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, how, str(n), str(flag), *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("how", "n"), [("kill", 1), ("kill", 3), ("kill-after-merge", 0)])
def test_a_killed_predict_is_resumed_by_the_next_run_byte_for_byte(
    setup: dict,  # noqa: F811
    tmp_path: Path,
    how: str,
    n: int,
    capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "p.npz"
    proc = _driver(how, n, tmp_path / "flag", _argv(setup, out))
    proc.communicate(timeout=300)
    assert proc.returncode == -9  # SIGKILL: no handler ran, nothing was cleaned up
    assert outputs.lock_path(out).exists()  # the dead run's lock is left behind
    assert (shards_dir_for(out) / "plan.json").exists()
    # the next run, without --overwrite: takes over the lock, resumes the shards, and writes
    # the same bytes as the uninterrupted reference run
    assert main(_argv(setup, out)) == 0
    assert out.read_bytes() == setup["ref"].read_bytes()
    assert not shards_dir_for(out).exists() and not outputs.lock_path(out).exists()
    assert outputs.is_marked(out, COMMAND.marker)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".p.npz.trm-output.json", "p.meta.json", "p.npz"], leftovers
    assert "error" not in capsys.readouterr().err


def test_a_second_writer_fails_at_once_and_leaves_the_first_running(setup, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "p.npz"
    go = tmp_path / "go"
    first = _driver("pause", 2, go, _argv(setup, out))
    try:
        for _ in range(1200):  # the first run has written two shards and waits
            if go.with_suffix(".ready").exists() or first.poll() is not None:
                break
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()
        shards = sorted(p.name for p in shards_dir_for(out).iterdir())
        t0 = time.perf_counter()
        assert main(_argv(setup, out)) == 2
        assert time.perf_counter() - t0 < 30  # no waiting for the first run
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is being written by another process" in err, err
        assert f"pid {first.pid}" in err
        # the first run's shards are untouched and it finishes as if alone
        assert sorted(p.name for p in shards_dir_for(out).iterdir()) == shards
        assert not out.exists()
        go.write_text("")
        _, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr
    assert out.read_bytes() == setup["ref"].read_bytes()
    assert not shards_dir_for(out).exists() and not outputs.lock_path(out).exists()


def test_shards_of_other_settings_are_refused_then_started_over(setup, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "p.npz"
    proc = _driver("kill", 2, tmp_path / "flag", [*_argv(setup, out), "--max-examples", "24"])
    proc.communicate(timeout=300)
    assert proc.returncode == -9
    # hours of shards are not thrown away for a changed flag: one line says what to do
    assert main(_argv(setup, out)) == 2
    err = capsys.readouterr().err
    assert "other settings (num_examples: 24 then, 40 now)" in err and "--overwrite" in err
    assert len(list(shards_dir_for(out).glob("rows_*.npz"))) == 2
    assert main([*_argv(setup, out), "--overwrite"]) == 0
    assert "starting over" in capsys.readouterr().err
    assert out.read_bytes() == setup["ref"].read_bytes()
    assert not shards_dir_for(out).exists()


def test_a_shard_folder_killed_before_its_plan_is_started_over(
    setup: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The marker is written before the plan: a run killed between the two left a folder the
    next run recognises as its own (no plan: no shard either) and starts over in."""
    out = tmp_path / "p.npz"
    shards = shards_dir_for(out)
    shards.mkdir()
    outputs.write_marker(shards, COMMAND.marker, folder=True)
    (shards / "rows_0000000000-0000000008.npz").write_bytes(b"half a shard")
    assert main(_argv(setup, out)) == 0
    assert out.read_bytes() == setup["ref"].read_bytes()
