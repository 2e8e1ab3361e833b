"""Progress output: complete lines with rate and ETA when stderr is a log file, not tqdm bars."""

from __future__ import annotations

import io
import subprocess
import sys

from trm.progress import PlainProgress, progress


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_plain_lines_every_ten_percent_with_rate_and_eta() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = PlainProgress(total=1000, desc="train", unit="step", file=out, clock=clock)
    for _ in range(1000):
        clock.t += 0.01
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # 10 %, 20 %, ..., 90 % and the closing 100 % line; no line per update.
    assert len(lines) == 10, lines
    assert lines[0].startswith("train: 100/1,000 step (10 %)")
    assert "100.00 step/s" in lines[0] and "ETA 00:09" in lines[0]
    assert lines[-1].endswith("done") and "1,000/1,000 step (100 %)" in lines[-1]


def test_plain_lines_every_thirty_seconds_when_slow_or_total_unknown() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = PlainProgress(desc="read", unit="rows", file=out, clock=clock)
    for _ in range(10):
        clock.t += 10.0  # 100 s in all: lines at 30, 60, 90 s
        bar.update(5)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith("read: 15 rows") and "elapsed 00:30" in lines[0]
    assert "2.00 s/rows" in lines[0]


def test_resumed_run_counts_rate_from_its_own_start() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = PlainProgress(total=100, initial=50, desc="train", unit="step", file=out, clock=clock)
    for _ in range(10):
        clock.t += 1.0
        bar.update(1)
    bar.close()
    first = out.getvalue().splitlines()[0]
    assert first.startswith("train: 60/100 step (60 %)"), first
    assert "1.00 step/s" in first and "ETA 00:40" in first


def test_iterating_and_disable() -> None:
    out = io.StringIO()
    assert list(PlainProgress(range(5), file=out, disable=True)) == [0, 1, 2, 3, 4]
    assert out.getvalue() == ""
    assert sum(PlainProgress(range(5), file=out)) == 10
    assert out.getvalue().count("\n") >= 1


def test_job_log_gets_lines_not_a_bar() -> None:
    # A Snakemake job's stderr is a file: what lands there must be whole lines.
    code = (
        "from trm.progress import progress\n"
        "for _ in progress(range(200), desc='work', unit='item'): pass\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "\r" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith("work: 200/200 item (100 %)")


def test_bar_can_be_forced(monkeypatch) -> None:
    monkeypatch.setenv("TRM_PROGRESS", "bar")
    from tqdm import tqdm

    assert isinstance(progress(range(3), disable=True), tqdm)
    monkeypatch.setenv("TRM_PROGRESS", "plain")
    assert isinstance(progress(range(3)), PlainProgress)


def test_postfix_shows_values_not_tqdm_flags() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = PlainProgress(total=10, desc="train", unit="step", file=out, clock=clock)
    bar.set_postfix(loss=0.938, exact=0.0, refresh=False)  # as trm train calls it
    clock.t += 1
    bar.update(10)
    bar.close()
    text = out.getvalue()
    assert "loss=0.938, exact=0.0" in text and "refresh" not in text
