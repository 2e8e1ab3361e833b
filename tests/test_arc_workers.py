"""`trm prepare arc --workers N`: the rendering processes never hang or litter a build.

The workers are fresh processes (a forkserver), not forks of the caller: a worker killed from
outside (the OOM killer) fails the build with one line instead of hanging it forever, and
Ctrl-C stops the build without a traceback from any worker. Each test takes a few seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _write_many_tasks(prefix: Path, n_tasks: int = 60) -> None:
    """Kaggle combined files of random 12x12 tasks: many task groups, so rendering takes a while."""
    rng = np.random.RandomState(0)
    for subset in ("training", "evaluation"):
        chal, sols = {}, {}
        for k in range(n_tasks):
            grids = [rng.randint(0, 10, size=(12, 12)).tolist() for _ in range(8)]
            train = [{"input": grids[i], "output": grids[i + 1]} for i in range(0, 6, 2)]
            chal[f"{subset[:4]}{k:04d}"] = {"test": [{"input": grids[6]}], "train": train}
            sols[f"{subset[:4]}{k:04d}"] = [grids[7]]
        Path(f"{prefix}_{subset}_challenges.json").write_text(json.dumps(chal))
        Path(f"{prefix}_{subset}_solutions.json").write_text(json.dumps(sols))


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        kids.extend(int(k) for k in text)
    return kids


def _rendering_workers(pid: int) -> list[int]:
    """Descendants of `pid` that render: leaves, other than multiprocessing's resource tracker."""
    found, stack = [], _children(pid)
    while stack:
        p = stack.pop()
        try:
            kids = _children(p)
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if kids:
            stack.extend(kids)
        elif b"resource_tracker" not in cmd:
            found.append(p)
    return found


def _start_build(tmp_path: Path, out: Path) -> tuple[subprocess.Popen, list[int]]:
    prefix = tmp_path / "in" / "arc"
    prefix.parent.mkdir()
    _write_many_tasks(prefix)
    cmd = [sys.executable, "-m", "trm.cli", "prepare", "arc", "--no-progress",
           "--input-prefix", str(prefix), "--subsets", "training", "evaluation",
           "--test-set", "evaluation", "--num-aug", "400", "--workers", "2",
           "--out", str(out)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a new session, so Ctrl-C can go to the whole group; SIGINT as a terminal leaves it
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.05)
        workers = _rendering_workers(proc.pid)
    if len(workers) < 2:
        _stop(proc)
        pytest.fail(f"the build never started 2 rendering workers: {proc.communicate()}")
    return proc, workers


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def _group_alive(pgid: int) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def _wait_group_gone(pgid: int, seconds: float = 30) -> list[int]:
    deadline = time.time() + seconds
    while time.time() < deadline and _group_alive(pgid):
        time.sleep(0.1)
    return _group_alive(pgid)


def test_a_killed_worker_fails_the_build_in_one_line_instead_of_hanging(tmp_path: Path) -> None:
    out = tmp_path / "out" / "arc"
    proc, workers = _start_build(tmp_path, out)
    try:
        os.kill(workers[0], signal.SIGKILL)  # as the OOM killer would
        _, err = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "a process rendering the arrays died" in lines[0], err
    assert f"cannot write {out}: " in lines[0], err
    assert not out.exists()
    assert not out.parent.exists() or os.listdir(out.parent) == []
    assert _wait_group_gone(proc.pid) == []


def test_ctrl_c_stops_workers_and_build_without_a_traceback(tmp_path: Path) -> None:
    out = tmp_path / "out" / "arc"
    proc, _ = _start_build(tmp_path, out)
    try:
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        _, err = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "trm prepare arc: interrupted; unfinished outputs removed"
    ], err
    assert not out.exists()
    assert not out.parent.exists() or os.listdir(out.parent) == []
    assert _wait_group_gone(proc.pid) == []
