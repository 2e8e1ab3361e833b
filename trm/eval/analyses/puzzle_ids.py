"""Puzzle-ID ablation: what the model is fed in place of each example's puzzle identifier.

- `true`: the dataset's identifiers (the normal prediction).
- `blank`: identifier 0, the reference's blank identifier (its embedding row is never trained).
- `random`: for every identifier a seeded random *other* valid identifier (1..N-1), the same
  one for every example of that puzzle, so the model sees a real learned embedding of some
  other puzzle.
- `mean`: the mean of all learned embedding rows (1..N-1), fed through the blank row, which is
  overwritten with that mean in the loaded model (the checkpoint file is not touched).

The predictions file keeps the dataset's true identifiers, so scoring is unchanged.
"""

from __future__ import annotations

import numpy as np

from trm.errors import UserError

PUZZLE_ID_MODES: tuple[str, ...] = ("true", "blank", "random", "mean")
BLANK_ID = 0


def check_mode(mode: str) -> None:
    if mode not in PUZZLE_ID_MODES:
        raise UserError(f"--puzzle-ids must be one of {list(PUZZLE_ID_MODES)}, got {mode!r}")


def replacement_table(mode: str, num_identifiers: int, seed: int = 0) -> np.ndarray:
    """[num_identifiers] int32: the identifier fed to the model for each dataset identifier."""
    check_mode(mode)
    ids = np.arange(num_identifiers, dtype=np.int64)
    if mode == "true":
        return ids.astype(np.int32)
    if mode in ("blank", "mean"):
        return np.full(num_identifiers, BLANK_ID, dtype=np.int32)
    if num_identifiers < 3:
        raise UserError(
            f"--puzzle-ids random needs at least 2 puzzles, the dataset has {num_identifiers - 1}"
        )
    # a shift in 1..N-2 within the valid ids 1..N-1 never maps an identifier onto itself
    shift = np.random.default_rng(seed).integers(1, num_identifiers - 1, size=num_identifiers)
    table = 1 + (ids - 1 + shift) % (num_identifiers - 1)
    table[BLANK_ID] = BLANK_ID
    return table.astype(np.int32)


def use_mean_embedding(model: object) -> None:
    """Overwrite the model's blank embedding row with the mean of the learned rows 1..N-1."""
    import torch

    emb = getattr(model, "puzzle_emb", None)
    if emb is None:
        raise UserError("--puzzle-ids mean: this model has no puzzle embedding (puzzle_emb_ndim 0)")
    with torch.no_grad():
        emb.weights[BLANK_ID] = emb.weights[BLANK_ID + 1 :].mean(dim=0)
