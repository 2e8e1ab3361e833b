"""Small generated datasets in the reference format, for tests, smoke runs and benchmarks.

`write_grid_task` writes a task a tiny TRM can master in a minute on a CPU: each example is a
random `side x side` grid of colours and its label is the grid mirrored left-right with the
colours shifted by one (so every output cell depends on another position and on its value).
Tokens follow the ARC convention: 0 pad, 1 unused, 2.. colours.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from trm.data.format import DatasetMetadata, array_path, write_metadata


def _transform(grid: np.ndarray, n_colours: int, mirror: bool = True) -> np.ndarray:
    out = grid[..., ::-1] if mirror else grid
    return (out + 1) % n_colours


def write_split(
    root: str | os.PathLike,
    split: str,
    inputs: np.ndarray,
    labels: np.ndarray,
    puzzle_identifiers: np.ndarray,
    puzzle_indices: np.ndarray,
    group_indices: np.ndarray,
    vocab_size: int,
    num_puzzle_identifiers: int,
    ignore_label_id: int | None = 0,
) -> None:
    """Write one split's five arrays and dataset.json."""
    arrays = {
        "inputs": inputs.astype(np.uint8),
        "labels": labels.astype(np.uint8),
        "puzzle_identifiers": puzzle_identifiers.astype(np.int32),
        "puzzle_indices": puzzle_indices.astype(np.int32),
        "group_indices": group_indices.astype(np.int32),
    }
    for name, arr in arrays.items():
        p = array_path(root, split, name)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.save(p, arr)
    n_puzzles = puzzle_indices.size - 1
    meta = DatasetMetadata(
        pad_id=0,
        ignore_label_id=ignore_label_id,
        blank_identifier_id=0,
        vocab_size=vocab_size,
        seq_len=int(inputs.shape[1]),
        num_puzzle_identifiers=num_puzzle_identifiers,
        total_groups=int(group_indices.size - 1),
        mean_puzzle_examples=float(inputs.shape[0] / max(n_puzzles, 1)),
        total_puzzles=int(n_puzzles),
    )
    write_metadata(root, split, meta)


def write_grid_task(
    root: str | os.PathLike,
    n_groups: int = 16,
    puzzles_per_group: int = 2,
    examples_per_puzzle: int | tuple[int, int] = 8,
    side: int = 4,
    n_colours: int = 3,
    n_test: int = 64,
    seed: int = 0,
    mirror: bool = True,
) -> Path:
    """Write a mirror-and-shift-colours grid task to `root` (train and test splits).

    `mirror=False` keeps only the colour shift (a per-cell task). `examples_per_puzzle` is a count or an inclusive (low, high) range drawn per puzzle.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    n_puzzles = n_groups * puzzles_per_group
    if isinstance(examples_per_puzzle, int):
        counts = np.full(n_puzzles, examples_per_puzzle)
    else:
        counts = rng.integers(examples_per_puzzle[0], examples_per_puzzle[1] + 1, size=n_puzzles)
    total = int(counts.sum())
    grids = rng.integers(0, n_colours, size=(total, side, side))
    inputs = (grids + 2).reshape(total, -1)
    labels = (_transform(grids, n_colours, mirror) + 2).reshape(total, -1)
    puzzle_indices = np.concatenate([[0], np.cumsum(counts)])
    group_indices = np.arange(0, n_puzzles + 1, puzzles_per_group)
    ids = np.arange(1, n_puzzles + 1)
    vocab = n_colours + 2
    write_split(
        root, "train", inputs, labels, ids, puzzle_indices, group_indices, vocab, n_puzzles + 1
    )

    # Test split: new grids, each its own puzzle, attached to a training puzzle's embedding.
    tgrids = rng.integers(0, n_colours, size=(n_test, side, side))
    write_split(
        root,
        "test",
        (tgrids + 2).reshape(n_test, -1),
        (_transform(tgrids, n_colours, mirror) + 2).reshape(n_test, -1),
        rng.integers(1, n_puzzles + 1, size=n_test),
        np.arange(n_test + 1),
        np.arange(n_test + 1),
        vocab,
        n_puzzles + 1,
    )
    (root / "identifiers.json").write_text(
        json.dumps(["<blank>"] + [f"p{i}" for i in range(1, n_puzzles + 1)])
    )
    return root
