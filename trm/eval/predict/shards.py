"""Resumable inference: the rows are cut into shards, each written atomically under
`<out>.shards/` with its row range in the file name, and merged into the predictions file at
the end. A pre-empted run resumes by skipping the shards that exist; `plan.json` in the folder
records the settings the shards were computed with, so a rerun with other settings cannot mix
them."""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from trm.errors import UserError
from trm.eval.predict.batches import Answers
from trm.eval.predict.steps import empty_steps
from trm.eval.predictions import STEP_FIELDS, write_predictions
from trm.utils import atomic_path, read_json, write_json

PLAN_FILE = "plan.json"
_SHARD_RE = re.compile(r"^rows_(\d+)-(\d+)\.npz$")


def shard_ranges(n: int, rows_per_shard: int) -> list[tuple[int, int]]:
    """Contiguous [start, end) row ranges covering 0..n."""
    if rows_per_shard <= 0:
        raise ValueError(f"rows per shard must be positive, got {rows_per_shard}")
    return [(s, min(s + rows_per_shard, n)) for s in range(0, n, rows_per_shard)]


def shard_name(start: int, end: int) -> str:
    return f"rows_{start:010d}-{end:010d}.npz"


def shards_dir_for(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".shards")


def plan_differences(shards_dir: Path, plan: dict[str, Any]) -> list[str] | None:
    """How the shards in `shards_dir` were planned differently from `plan` (empty: the same
    plan, they resume this run), or None when no readable plan is there (a run killed before
    it wrote one)."""
    try:
        old = read_json(shards_dir / PLAN_FILE, "shard plan")
    except UserError:
        return None
    if not isinstance(old, dict):
        return None
    return [f"{k}: {old.get(k)!r} then, {v!r} now" for k, v in plan.items() if old.get(k) != v]


def check_or_write_plan(shards_dir: Path, plan: dict[str, Any]) -> int:
    """Create the shards folder with plan.json, or check an existing one matches; returns the
    number of shard files already present."""
    plan_file = shards_dir / PLAN_FILE
    if plan_file.exists():
        diffs = plan_differences(shards_dir, plan)
        if diffs:
            raise UserError(
                f"{shards_dir} holds shards of an earlier run with other settings ("
                + "; ".join(diffs)
                + "): rerun with the same settings to resume, or remove that folder to start over"
            )
    else:
        shards_dir.mkdir(parents=True, exist_ok=True)
        write_json(plan_file, plan)
    return sum(1 for p in shards_dir.iterdir() if _SHARD_RE.match(p.name))


def save_shard(path: Path, answers: Answers) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, preds=answers.preds, q_halt_logits=answers.q_halt_logits, **answers.steps)


def load_shard(path: Path, rows: int, seq_len: int, step_count: int = 0) -> Answers:
    with np.load(path, allow_pickle=False) as z:
        preds, q = z["preds"], z["q_halt_logits"]
        steps = {k: z[k] for k in STEP_FIELDS if k in z.files}
    bad_steps = step_count and any(
        k not in steps or steps[k].shape != (rows, step_count) for k in STEP_FIELDS
    )
    if preds.shape != (rows, seq_len) or q.shape != (rows,) or bad_steps:
        raise UserError(
            f"shard {path} has preds {preds.shape} / q_halt_logits {q.shape}, expected ({rows}, {seq_len})"
            + (f" and per-step fields of shape ({rows}, {step_count})" if step_count else "")
        )
    return Answers(preds, q, steps)


def shard_is_complete(path: Path, rows: int, seq_len: int, step_count: int = 0) -> bool:
    """True when a resumable shard exists and reads back whole; a corrupted one (killed disk,
    truncated copy) is removed with a warning so that it is recomputed instead of crashing."""
    if not path.exists():
        return False
    try:
        load_shard(path, rows, seq_len, step_count)
        return True
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, UserError) as e:
        warnings.warn(
            f"discarding corrupted prediction shard {path} ({type(e).__name__}: {e}); "
            "recomputing it",
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        return False


def merge_shards(
    out: Path,
    shards_dir: Path,
    ranges: list[tuple[int, int]],
    inputs: np.ndarray,
    puzzle_ids: np.ndarray,
    step_count: int = 0,
) -> None:
    """Concatenate the shards (in row order) with the dataset's inputs and identifiers (their
    first rows, as many as the shards cover) into the predictions file `out`."""
    n, seq_len = ranges[-1][1], inputs.shape[1]
    preds = np.empty((n, seq_len), dtype=np.int32)
    q_halt = np.empty((n,), dtype=np.float32)
    step_arrays = empty_steps(n, step_count) if step_count else {}
    for s, e in ranges:
        path = shards_dir / shard_name(s, e)
        if not path.exists():
            raise UserError(f"shard {path} is missing (did a rank fail?); rerun to resume")
        shard = load_shard(path, e - s, seq_len, step_count)
        preds[s:e], q_halt[s:e] = shard.preds, shard.q_halt_logits
        for name in step_arrays:
            step_arrays[name][s:e] = shard.steps[name]
    write_predictions(
        out,
        puzzle_identifiers=puzzle_ids[:n],
        inputs=np.asarray(inputs[:n]),
        preds=preds,
        q_halt_logits=q_halt,
        **step_arrays,
    )
