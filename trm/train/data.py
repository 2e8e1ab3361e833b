"""Training batches from the on-disk dataset, sampled as the reference's PuzzleDataset does.

One *iteration* covers `epochs_per_iter` epochs: its group order is the concatenation of that
many random permutations of the groups, drawn from `Philox(seed + iteration)`. Batches are packed
by walking the order: each group contributes one random puzzle from the group (one augmentation
of a task), and that puzzle contributes its examples, in random order, until the global batch is
full (a puzzle that does not fit is cut). The last partial batch of an iteration is dropped.
Each rank takes its contiguous slice of the global batch.

Group order and puzzle choice consume the same Philox stream as the reference, so they match it
exactly. The example order inside a puzzle has two modes (`example_order`):

- "reference": the reference's order. It draws `np.random.choice` from the global NumPy state
  of its single DataLoader worker, which torch seeds once per run: `base_seed` is the first
  int64 that `torch.empty((), dtype=torch.int64).random_()` draws from the CPU generator seeded
  with `seed + rank` (on a GPU run nothing else has used that generator yet), and the worker
  calls `np.random.seed(torch.utils.data._utils.worker._generate_state(base_seed, 0))`. One
  MT19937 stream then runs through the whole training. Here it is a private
  `np.random.RandomState` seeded the same way (no global state is touched). What this relies
  on in torch (the base-seed draw, `_generate_state` and the worker's `np.random.seed` call) is
  checked against a real DataLoader worker by tests/test_train_data.py.
- "per_iteration": a seeded Philox stream per iteration, independent of torch. Used for
  multi-process runs, where the reference's ranks each draw their own order for the same global
  batch and so disagree with one another.

The sampler's position (iteration, index into the order, the generators' states) is part of the
training state, so a resumed run draws exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trm.data.format import DatasetMetadata, load_split, read_metadata
from trm.errors import InputError

IGNORE_LABEL_ID = -100  # what the loss ignores; the dataset's ignore_label_id is mapped to it
EXAMPLE_ORDERS = ("reference", "per_iteration")


def reference_worker_numpy_seed(seed: int, rank: int = 0) -> list[int]:
    """The NumPy seed torch gives the reference's DataLoader worker 0 (see the module doc)."""
    try:
        from torch.utils.data._utils.worker import _generate_state
    except ImportError as e:  # a torch that moved its private helper: fail loudly, not silently
        raise InputError(
            "this torch no longer has torch.utils.data._utils.worker._generate_state, which the "
            "reference example order needs; use train.example_order=per_iteration"
        ) from e
    generator = torch.Generator().manual_seed(seed + rank)
    base_seed = int(torch.empty((), dtype=torch.int64).random_(generator=generator).item())
    return [int(x) for x in _generate_state(base_seed, 0)]


def _random_state_to_dict(rs: np.random.RandomState) -> dict[str, Any]:
    """MT19937 state as plain ints and lists (loadable with torch.load(weights_only=True))."""
    name, keys, pos, has_gauss, cached_gaussian = rs.get_state(legacy=True)  # type: ignore[misc]
    return {
        "bit_generator": str(name),
        "keys": [int(k) for k in keys],
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached_gaussian),
    }


def _random_state_from_dict(state: dict[str, Any]) -> np.random.RandomState:
    rs = np.random.RandomState()
    rs.set_state(
        (
            state["bit_generator"],
            np.asarray(state["keys"], dtype=np.uint32),
            int(state["pos"]),
            int(state["has_gauss"]),
            float(state["cached_gaussian"]),
        )
    )
    return rs


def read_rows(
    inputs: np.ndarray, labels: np.ndarray, rows: np.ndarray, ignore_label_id: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a split's (memory-mapped) inputs and labels as int32, in the order of `rows`,
    with the dataset's ignored label turned into IGNORE_LABEL_ID (what the loss skips)."""
    # Sorted reads are much faster on a memory map; restore the batch order afterwards.
    order = np.argsort(rows, kind="stable")
    back = np.empty_like(order)
    back[order] = np.arange(order.size)
    x = np.asarray(inputs[rows[order]])[back].astype(np.int32)
    y = np.asarray(labels[rows[order]])[back].astype(np.int32)
    if ignore_label_id is not None:
        y[y == ignore_label_id] = IGNORE_LABEL_ID
    return x, y


@dataclass
class TrainBatch:
    """One rank's slice of a global batch (int32 tensors) and the global effective size."""

    batch: dict[str, torch.Tensor]
    global_effective_size: int
    iteration: int


def pack_batch(
    group_rng: np.random.Generator,
    example_rng: np.random.Generator | np.random.RandomState,
    group_order: np.ndarray,
    puzzle_indices: np.ndarray,
    group_indices: np.ndarray,
    start: int,
    global_batch_size: int,
) -> tuple[int, np.ndarray, np.ndarray]:
    """Pack one global batch starting at `group_order[start]`.

    Returns the next start, the example rows and, per row, the puzzle it came from.
    """
    rows: list[np.ndarray] = []
    puzzles: list[np.ndarray] = []
    size = 0
    while start < group_order.size and size < global_batch_size:
        group = int(group_order[start])
        puzzle = int(group_rng.integers(group_indices[group], group_indices[group + 1]))
        start += 1
        first = int(puzzle_indices[puzzle])
        n_examples = int(puzzle_indices[puzzle + 1]) - first
        take = min(n_examples, global_batch_size - size)
        puzzles.append(np.full(take, puzzle, dtype=np.int32))
        rows.append(first + example_rng.choice(n_examples, take, replace=False))
        size += take
    if not rows:
        return start, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    return start, np.concatenate(rows), np.concatenate(puzzles)


class PuzzleBatchSampler:
    """Iterates training batches for one rank; resumable through `state_dict()`."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        global_batch_size: int,
        seed: int = 0,
        epochs_per_iter: int = 1,
        rank: int = 0,
        world_size: int = 1,
        split: str = "train",
        example_order: str = "per_iteration",
    ) -> None:
        if global_batch_size <= 0:
            raise InputError(f"global_batch_size must be positive, got {global_batch_size}")
        if global_batch_size % world_size != 0:
            raise InputError(
                f"global_batch_size {global_batch_size} is not a multiple of the world size {world_size}"
            )
        if epochs_per_iter <= 0:
            raise InputError(f"epochs_per_iter must be positive, got {epochs_per_iter}")
        if example_order not in EXAMPLE_ORDERS:
            raise InputError(
                f"example_order must be one of {list(EXAMPLE_ORDERS)}, got {example_order!r}"
            )
        self.data_dir = str(data_dir)
        self.split = split
        self.metadata: DatasetMetadata = read_metadata(data_dir, split)
        arrays = load_split(data_dir, split)  # inputs/labels stay memory-mapped
        self.inputs = arrays["inputs"]
        self.labels = arrays["labels"]
        # Indices are small and read constantly: keep them in memory.
        self.puzzle_identifiers = np.asarray(arrays["puzzle_identifiers"])
        self.puzzle_indices = np.asarray(arrays["puzzle_indices"])
        self.group_indices = np.asarray(arrays["group_indices"])
        self._check_arrays()

        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // world_size
        self.seed = seed
        self.epochs_per_iter = epochs_per_iter
        self.rank = rank
        self.world_size = world_size
        self.example_order = example_order

        # Position: the iteration in progress (0 = none started) and where in its order we are.
        self.iteration = 0
        self._order: np.ndarray | None = None
        self._start = 0
        self._group_rng: np.random.Generator | None = None
        self._example_rng: np.random.Generator | np.random.RandomState | None = None
        # The reference order's one stream for the whole run (created lazily, saved by state_dict)
        self._run_rng: np.random.RandomState | None = None

    def _check_arrays(self) -> None:
        where = f"{self.data_dir}/{self.split}"
        n_rows = self.inputs.shape[0]
        if self.labels.shape != self.inputs.shape:
            raise InputError(
                f"{where}: labels shape {self.labels.shape} != inputs shape {self.inputs.shape}"
            )
        if self.inputs.ndim != 2 or self.inputs.shape[1] != self.metadata.seq_len:
            raise InputError(
                f"{where}: inputs shape {self.inputs.shape} does not match seq_len {self.metadata.seq_len}"
            )
        pi, gi = self.puzzle_indices, self.group_indices
        if pi.size < 2 or pi[0] != 0 or pi[-1] != n_rows or np.any(np.diff(pi) < 0):
            raise InputError(
                f"{where}: puzzle_indices must rise from 0 to the number of examples ({n_rows})"
            )
        if gi.size < 2 or gi[0] != 0 or gi[-1] != pi.size - 1 or np.any(np.diff(gi) <= 0):
            raise InputError(
                f"{where}: group_indices must rise from 0 to the number of puzzles ({pi.size - 1})"
            )
        if self.puzzle_identifiers.size != pi.size - 1:
            raise InputError(
                f"{where}: {self.puzzle_identifiers.size} puzzle_identifiers for {pi.size - 1} puzzles"
            )

    @property
    def total_groups(self) -> int:
        return int(self.group_indices.size - 1)

    @property
    def exhausted(self) -> bool:
        """True when the current iteration's order is used up (or none has started)."""
        return self._order is None or self._start >= self._order.size

    def _begin_iteration(self) -> None:
        self.iteration += 1
        self._group_rng = np.random.Generator(np.random.Philox(seed=self.seed + self.iteration))
        self._example_rng = self._new_example_rng()
        self._order = self._make_order(self._group_rng)
        self._start = 0

    def _new_example_rng(self) -> np.random.Generator | np.random.RandomState:
        if self.example_order == "reference":
            if self._run_rng is None:
                self._run_rng = np.random.RandomState(
                    reference_worker_numpy_seed(self.seed, self.rank)
                )
            return self._run_rng
        # A separate stream (distinct key) per iteration for the example order within a puzzle.
        return np.random.Generator(
            np.random.Philox(key=np.array([self.seed + self.iteration, 0x5EED], dtype=np.uint64))
        )

    def _make_order(self, rng: np.random.Generator) -> np.ndarray:
        return np.concatenate(
            [rng.permutation(self.total_groups) for _ in range(self.epochs_per_iter)]
        )

    def iterate_once(self, collate: bool = True) -> Iterator[TrainBatch]:
        """The batches of one iteration (continuing one in progress after a resume).

        `collate=False` yields batches without their tensors (empty dicts), drawing the same random
        numbers: for counting the batches left, as the EMA's final pass does.
        """
        if self._order is None or self._start >= self._order.size:
            self._begin_iteration()
        assert (
            self._order is not None
            and self._group_rng is not None
            and self._example_rng is not None
        )
        while self._start < self._order.size:
            self._start, rows, puzzles = pack_batch(
                self._group_rng,
                self._example_rng,
                self._order,
                self.puzzle_indices,
                self.group_indices,
                self._start,
                self.global_batch_size,
            )
            if puzzles.size < self.global_batch_size:
                self._start = int(self._order.size)  # drop the last partial batch
                break
            lo, hi = self.rank * self.local_batch_size, (self.rank + 1) * self.local_batch_size
            batch = self.collate(rows[lo:hi], puzzles[lo:hi]) if collate else {}
            yield TrainBatch(batch, int(puzzles.size), self.iteration)

    def __iter__(self) -> Iterator[TrainBatch]:
        """Endless: one iteration after another."""
        return self.batches()

    def batches(self, collate: bool = True) -> Iterator[TrainBatch]:
        """Endless: one iteration after another (`collate` as in `iterate_once`)."""
        while True:
            # A resumed iteration may hold only its last partial batch (dropped): that is not an
            # error; a fresh iteration that yields nothing is.
            fresh = self.exhausted
            produced = False
            for b in self.iterate_once(collate):
                produced = True
                yield b
            if not produced and fresh:
                raise InputError(
                    f"{self.data_dir}/{self.split}: one iteration ({self.epochs_per_iter} epoch(s) of "
                    f"{self.total_groups} groups) holds fewer examples than one global batch "
                    f"({self.global_batch_size}); lower train.global_batch_size"
                )

    def collate(self, rows: np.ndarray, puzzles: np.ndarray) -> dict[str, torch.Tensor]:
        inputs, labels = read_rows(self.inputs, self.labels, rows, self.metadata.ignore_label_id)
        ids = self.puzzle_identifiers[puzzles].astype(np.int32)
        return {
            "inputs": torch.from_numpy(inputs),
            "labels": torch.from_numpy(labels),
            "puzzle_identifiers": torch.from_numpy(ids),
        }

    def state_dict(self) -> dict[str, Any]:
        per_iteration = isinstance(self._example_rng, np.random.Generator)
        return {
            "seed": self.seed,
            "epochs_per_iter": self.epochs_per_iter,
            "global_batch_size": self.global_batch_size,
            "example_order": self.example_order,
            "iteration": self.iteration,
            "start": self._start,
            "group_rng": None if self._group_rng is None else self._group_rng.bit_generator.state,
            "example_rng": self._example_rng.bit_generator.state if per_iteration else None,  # type: ignore[union-attr]
            "run_rng": None if self._run_rng is None else _random_state_to_dict(self._run_rng),
        }

    def load_state_dict(self, state: dict[str, Any], switch_example_order: bool = False) -> None:
        """Continue from `state_dict()`. With `switch_example_order`, a state written in the other
        example order (e.g. by another number of processes) keeps its group position and starts
        this sampler's example stream afresh; otherwise a different order is an error."""
        if "example_order" not in state:
            # Written before the reference order existed: it continues with its own stream.
            self.example_order = "per_iteration"
            state = {**state, "example_order": "per_iteration", "run_rng": None}
        if switch_example_order and state["example_order"] != self.example_order:
            state = {
                **state,
                "example_order": self.example_order,
                "run_rng": None,
                "example_rng": None,
            }
        for key in ("seed", "epochs_per_iter", "global_batch_size", "example_order"):
            if state[key] != getattr(self, key):
                raise InputError(
                    f"cannot resume the data position: train {key} was {state[key]}, now {getattr(self, key)}"
                )
        self.iteration = int(state["iteration"])
        self._start = int(state["start"])
        self._run_rng = (
            None if state["run_rng"] is None else _random_state_from_dict(state["run_rng"])
        )
        if self.iteration == 0 or state["group_rng"] is None:
            self._order, self._group_rng, self._example_rng = None, None, None
            return
        # Rebuild the iteration's order from its seed, then jump the generators to where they were.
        self._group_rng = np.random.Generator(np.random.Philox(seed=self.seed + self.iteration))
        self._order = self._make_order(self._group_rng)
        self._group_rng.bit_generator.state = state["group_rng"]
        if self.example_order == "reference" or state["example_rng"] is None:
            self._example_rng = self._new_example_rng()
        else:
            self._example_rng = np.random.Generator(np.random.Philox())
            self._example_rng.bit_generator.state = state["example_rng"]
