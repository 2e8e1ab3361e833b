"""ARC rows rendered vectorised, and the worker processes that render and write them.

`render_group` turns a group's pairs, augmentations and translations into token rows for all
its puzzles at once; `render_rows` writes the rows of many groups with `pwrite` into `.npy`
files created at their final size (`open_row_arrays`), in a pool of fresh processes that a
killed worker or Ctrl-C stops cleanly.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trm.data.arc import COLOUR_OFFSET, EOS_TOKEN
from trm.data.augment import dihedral_transform
from trm.data.format import array_path
from trm.errors import OutputIncompleteError


def _token_base(grid: np.ndarray) -> np.ndarray:
    """Tokens of a grid at offset (0, 0) with its end-of-grid row and column: [h+1, w+1]."""
    h, w = grid.shape
    base = np.zeros((h + 1, w + 1), dtype=np.uint8)
    base[:h, :w] = grid + COLOUR_OFFSET
    base[h, :w] = EOS_TOKEN
    base[:h, w] = EOS_TOKEN
    return base


def render_group(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    tids: np.ndarray,
    maps: np.ndarray,
    pad_r: np.ndarray | None,
    pad_c: np.ndarray | None,
    canvas: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels [P * E, canvas^2] of one group, puzzle-major, vectorised over puzzles."""
    P, E = len(tids), len(pairs)
    seq_len = canvas * canvas
    # token lookup per puzzle: pad and EOS stay, colour c becomes token 2 + map[c]
    luts = np.zeros((P, 2 + 10), dtype=np.uint8)
    luts[:, EOS_TOKEN] = EOS_TOKEN
    luts[:, COLOUR_OFFSET:] = maps + COLOUR_OFFSET
    groups = [(t, np.nonzero(tids == t)[0]) for t in np.unique(tids).tolist()]
    dump = P * E * seq_len  # one extra cell takes what falls off the canvas
    out = []
    for which in (0, 1):
        flat = np.zeros(dump + 1, dtype=np.uint8)
        for e, pair in enumerate(pairs):
            grid = pair[which]
            for t, sel in groups:
                base = _token_base(np.ascontiguousarray(dihedral_transform(grid, t)))
                row_start = (sel * E + e) * seq_len
                if pad_r is None:
                    base = base[:canvas, :canvas]  # a full-canvas side has no end marker
                    hh, ww = base.shape
                    cell = np.arange(hh)[:, None] * canvas + np.arange(ww)[None, :]
                    idx = row_start[:, None, None] + cell[None]
                else:
                    hh, ww = base.shape
                    ii = pad_r[sel, e][:, None, None] + np.arange(hh)[None, :, None]
                    jj = pad_c[sel, e][:, None, None] + np.arange(ww)[None, None, :]
                    idx = row_start[:, None, None] + ii * canvas + jj
                    # an end marker past the canvas edge is dropped (as in the reference)
                    idx = np.where((ii < canvas) & (jj < canvas), idx, dump)
                flat[idx] = luts[sel][:, base]
        out.append(flat[:dump].reshape(P * E, seq_len))
    return out[0], out[1]


RowFile = tuple[str, int]  # an .npy file's path and the byte offset of its data


@dataclass(frozen=True)
class RenderJob:
    """One task group's rows, self-contained so that any process can render and write it."""

    pairs: list[tuple[np.ndarray, np.ndarray]]
    tids: np.ndarray
    maps: np.ndarray
    pad_r: np.ndarray | None
    pad_c: np.ndarray | None
    canvas: int
    row0: int
    files: dict[str, RowFile]


_OPEN_FDS: dict[str, int] = {}  # this process's write descriptors, by array path


def render_job(job: RenderJob) -> int:
    """Render one job and write its rows into the arrays (this process keeps them open)."""
    inputs, labels = render_group(job.pairs, job.tids, job.maps, job.pad_r, job.pad_c, job.canvas)
    for name, arr in (("inputs", inputs), ("labels", labels)):
        path, offset = job.files[name]
        if path not in _OPEN_FDS:
            _OPEN_FDS[path] = os.open(path, os.O_WRONLY)
        # arr is C-contiguous: written without a copy
        os.pwrite(_OPEN_FDS[path], arr, offset + job.row0 * job.canvas * job.canvas)
    return len(inputs)


def _close_fds() -> None:
    while _OPEN_FDS:
        os.close(_OPEN_FDS.popitem()[1])


def open_row_arrays(out_dir: Path, split: str, rows: int, seq_len: int) -> dict[str, RowFile]:
    """Create inputs/labels .npy files of the final size; return (path, data offset) for each."""
    files = {}
    for name in ("inputs", "labels"):
        path = array_path(out_dir, split, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, seq_len))
        files[name] = (str(path), mm.offset)
        del mm
    return files


def _ignore_ctrl_c() -> None:
    """Pool initializer: Ctrl-C is the parent's to handle; it then stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _render_in_pool(jobs: Iterable[RenderJob], workers: int) -> Iterator[int]:
    """Render jobs in `workers` fresh processes; yields the rows each finished job wrote.

    The workers come from a forkserver (spawn where there is none), never a fork of this
    process: a fork inherits this process's signal handlers and whatever locks its other
    threads (torch's pools, progress monitors, a test runner's) held at that instant, and a
    worker stuck on either never exits. So, as for any multiprocessing code, a *script* that
    calls this must guard its entry point with `if __name__ == "__main__":` (the `trm` command
    and the workflow's jobs do). A worker that dies (e.g. the OOM killer) fails the build
    instead of hanging it, and the pool ends by sentinels, not signals. At most 4 jobs per
    worker are in flight, so the translation draws stream instead of piling up.
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload([__name__])  # workers fork from a server that imported us
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_ctrl_c)
    pending: set[Future[int]] = set()
    try:
        for job in jobs:
            if len(pending) >= 4 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
            pending.add(pool.submit(render_job, job))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in done)
    except BrokenProcessPool as e:
        raise OutputIncompleteError(
            "a process rendering the arrays died (killed by a signal, e.g. out of memory)"
        ) from e
    finally:
        # Ctrl-C or an error: drop the queued jobs; running ones end within one task group.
        pool.shutdown(wait=True, cancel_futures=True)


def render_rows(jobs: Iterable[RenderJob], workers: int) -> Iterator[int]:
    """Render and write every job, in `workers` fresh processes when more than one, else here;
    yields the rows each finished job wrote."""
    if workers > 1:
        yield from _render_in_pool(jobs, workers)
        return
    try:
        for job in jobs:
            yield render_job(job)
    finally:
        _close_fds()
