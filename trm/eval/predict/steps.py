"""The optional per-step fields of a predictions file (`trm predict --trajectory`, ARC): every
ACT step's answer, hashed exactly as scoring hashes answers, and its q_halt logit
(trm.eval.predictions.STEP_FIELDS)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from trm.errors import UserError

# (first row, step tokens [S, B, seq_len], step q_halt logits [S, B]) -> the rows' step fields
StepFields = Callable[[int, np.ndarray, np.ndarray], dict[str, np.ndarray]]


def empty_steps(rows: int, steps: int) -> dict[str, np.ndarray]:
    """Uninitialised per-step fields for `rows` rows of `steps` ACT steps."""
    return {
        "step_answer_shape": np.empty((rows, steps), dtype=np.uint16),
        "step_answer_hash": np.empty((rows, steps), dtype=np.uint64),
        "step_q_halt_logits": np.empty((rows, steps), dtype=np.float32),
    }


def step_hasher(data_dir: Path, row_ids: np.ndarray) -> StepFields:
    """For an ARC dataset: the per-step fields of a batch of rows (`row_ids`: the dataset's
    identifier of every row), hashed as scoring hashes answers (trm.eval.arc.hashing; the
    canvas is the dataset's: seq_len = N*N, 900 for 30x30)."""
    from trm.data.format import read_metadata
    from trm.eval.arc.hashing import canvas_side, hash_blocks
    from trm.eval.arc.testset import load_arc_test_set
    from trm.eval.predictions import dataset_row_identifiers

    try:
        ts = load_arc_test_set(data_dir, dataset_row_identifiers(data_dir))
        seq_len = read_metadata(data_dir, "test").seq_len
        side = canvas_side(seq_len, f"{data_dir}/test/dataset.json: field seq_len")
    except UserError as e:
        raise UserError(f"--trajectory needs an ARC dataset: {e}") from e
    pids = row_ids.astype(np.int64)

    def hash_steps(start: int, tokens: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
        n_steps, rows, seq = tokens.shape
        if seq != seq_len:
            raise UserError(
                f"--trajectory: rows of {seq} tokens, {data_dir} has {seq_len} ({side}x{side})"
            )
        out = empty_steps(rows, n_steps)
        batch_ids = pids[start : start + rows]
        for k in range(n_steps):
            shape, keys = hash_blocks(tokens[k], batch_ids, ts, True, False, "hash steps")
            out["step_answer_shape"][:, k] = shape
            out["step_answer_hash"][:, k] = keys[:, 0]
        out["step_q_halt_logits"][:] = q.T
        return out

    return hash_steps
