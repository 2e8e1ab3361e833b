"""Progress for long work: a tqdm bar on a terminal, plain log lines everywhere else.

Snakemake sends each job's stderr to a log file. A tqdm bar there becomes one "line" of thousands
of carriage-return-joined updates, unreadable in an editor and in the report's log excerpts. When
stderr is not a terminal, `progress` prints a complete line at most every `every_fraction` of
the work or every `every_seconds`, whichever comes first, with the rate and the time left.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

# Plain-line cadence when output is not a terminal: every 10 % of the work, or every 30 s.
EVERY_FRACTION = 0.10
EVERY_SECONDS = 30.0


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _rate(n: float, elapsed: float, unit: str) -> str:
    if elapsed <= 0 or n <= 0:
        return f"? {unit}/s"
    per_s = n / elapsed
    if per_s >= 1:
        return f"{per_s:,.2f} {unit}/s"
    return f"{elapsed / n:,.2f} s/{unit}"


class PlainProgress:
    """The subset of tqdm's interface the library uses, written as complete lines."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        initial: float = 0,
        desc: str = "",
        unit: str = "it",
        disable: bool = False,
        file: TextIO | None = None,
        every_fraction: float = EVERY_FRACTION,
        every_seconds: float = EVERY_SECONDS,
        clock: Any = time.monotonic,
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc
        self.unit = unit.strip() or "it"
        self.disable = disable
        self.file = file
        self.every_fraction = every_fraction
        self.every_seconds = every_seconds
        self._clock = clock
        self.n: float = initial
        self._initial = initial  # a resumed run: rate and ETA count only this run's work
        self.postfix = ""
        self._start = clock()
        self._last_time = self._start
        self._last_bucket = self._bucket(initial)
        self._closed = False

    # --- tqdm-compatible surface -------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("PlainProgress was created without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.disable:
            return
        now = self._clock()
        bucket = self._bucket(self.n)
        # The 100 % line is the closing one (close() writes it with "done").
        due_by_fraction = bucket > self._last_bucket and not (self.total and self.n >= self.total)
        due_by_time = now - self._last_time >= self.every_seconds
        if due_by_fraction or due_by_time:
            self._emit(now)
            self._last_time = now
            self._last_bucket = bucket

    def _bucket(self, n: float) -> int:
        """Which every_fraction step of the total `n` has reached (0 without a total)."""
        if not self.total:
            return 0
        return int(n / self.total / self.every_fraction + 1e-9)

    def set_postfix(
        self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any
    ) -> None:
        # `refresh` is tqdm's flag, not a value to show (lines are written on update anyway)
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:  # tqdm API; lines are written on update
        pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.disable and self.n > self._initial:
            self._emit(self._clock(), final=True)

    def write(self, s: str) -> None:
        print(s, file=self.file or sys.stderr, flush=True)

    # --- formatting ---------------------------------------------------------------------------
    def line(self, now: float, final: bool = False) -> str:
        elapsed = now - self._start
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            pct = 100.0 * self.n / self.total
            done = f"{self.n:,.0f}/{self.total:,.0f} {self.unit} ({pct:.0f} %)"
        else:
            done = f"{self.n:,.0f} {self.unit}"
        ran = self.n - self._initial
        parts = [done, f"elapsed {_duration(elapsed)}", _rate(ran, elapsed, self.unit)]
        if self.total and not final and ran > 0 and elapsed > 0:
            parts.append(f"ETA {_duration((self.total - self.n) * elapsed / ran)}")
        if final:
            parts.append("done")
        if self.postfix:
            parts.append(self.postfix)
        return head + ", ".join(parts)

    def _emit(self, now: float, final: bool = False) -> None:
        print(self.line(now, final), file=self.file or sys.stderr, flush=True)


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """`tqdm(iterable, **kwargs)` on a terminal, `PlainProgress` otherwise.

    TRM_PROGRESS=plain or =bar forces one style (e.g. for a terminal that records to a file).
    Accepts tqdm's keyword arguments; the plain writer uses total, desc, unit and disable and
    ignores the bar-only ones (mininterval, leave, dynamic_ncols, ...).
    """
    style = os.environ.get("TRM_PROGRESS", "").strip().lower()
    use_bar = style == "bar" or (style != "plain" and is_terminal(kwargs.get("file")))
    if kwargs.get("disable") is None:  # tqdm's "disable on non-TTY" means: plain lines here
        kwargs["disable"] = False
    if use_bar:
        from tqdm import tqdm

        return tqdm(iterable, **kwargs)
    plain = {
        k: kwargs[k] for k in ("total", "initial", "desc", "unit", "disable", "file") if k in kwargs
    }
    return PlainProgress(iterable, **plain)
