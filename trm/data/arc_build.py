"""The ARC dataset builder: the reference layout, bit for bit, streamed to disk.

It reproduces dataset/build_arc_dataset.py of the TRM reference (same inputs and seed give
identical arrays and equal JSON) without its memory use:

1. Per subset, the tasks are shuffled with numpy's legacy global RNG (seeded once).
2. Per task, augmentations (a dihedral transform and a permutation of colours 1..9) are drawn
   until `num_aug` distinct puzzles exist or `5 * num_aug` tries are spent. Duplicates are
   detected by content, as the reference does with sha256 of the sorted example hashes; here
   the content test is exact but computed in closed form (trm.data.arc_symmetry).
3. Identifiers are assigned in order of first appearance (train split, then test split).
4. Train examples get a random translation inside the 30x30 canvas, except one per puzzle.

`canvas` (30 is the reference layout) may be smaller: grids are then padded into an
N x N canvas (seq_len N*N) and translated within it. Same draws, smaller rows; a step of a
model on a 10x10 canvas costs about a tenth of one on 30x30. Datasets with N != 30 are outside
the reference layout (reference checkpoints do not apply) and their manifest says so.

All random numbers come from one `LegacyStream` (trm.data.arc_stream), which reads the raw
32-bit words of a `np.random.RandomState` in bulk and decodes them exactly as `randint`,
`shuffle` and `permutation` would; so the heavy work (rendering 30x30 grids) can then run
vectorised and in parallel (trm.data.arc_render), while the draws stay in the reference order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trm.data.arc import PAD_TOKEN, ArcTask, check_canvas
from trm.data.arc_render import RenderJob, RowFile, open_row_arrays, render_rows
from trm.data.arc_stream import LegacyStream, draw_translations
from trm.data.arc_symmetry import select_augmentations
from trm.data.augment import NAME_SEP
from trm.data.format import DatasetMetadata, array_path, write_metadata
from trm.progress import progress as progress_bar
from trm.utils import write_json


@dataclass
class TaskPlan:
    """One task after the augmentation draws: its group of puzzles (original first)."""

    task: ArcTask
    is_test: bool
    tids: np.ndarray  # [P] dihedral ids, 0 for the original
    maps: np.ndarray  # [P, 10] colour maps, identity for the original
    names: list[str] = field(default_factory=list)

    @property
    def n_puzzles(self) -> int:
        return len(self.tids)

    def split_pairs(self, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
        if split == "test":
            return self.task.pairs(["test"]) if self.is_test else []
        return self.task.pairs(["train"] if self.is_test else ["train", "test"])


@dataclass
class ArcBuildResult:
    counts: dict[str, Any]
    shortfalls: list[dict[str, Any]]
    identifiers: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase


def augmented_names(task_id: str, tids: np.ndarray, maps: np.ndarray) -> list[str]:
    """`augmented_name` for many augmentations at once (the digits come from one buffer)."""
    if len(tids) == 0:
        return []
    digits = (np.asarray(maps, dtype=np.uint8) + ord("0")).tobytes().decode("ascii")
    sep = NAME_SEP
    return [
        f"{task_id}{sep}t{t}{sep}{digits[10 * k : 10 * k + 10]}"
        for k, t in enumerate(np.asarray(tids).tolist())
    ]


def plan_tasks(
    subsets: Sequence[tuple[str, Sequence[ArcTask]]],
    test_sets: Sequence[str],
    num_aug: int,
    stream: LegacyStream,
    progress: bool = True,
) -> list[TaskPlan]:
    """Shuffle each subset and draw every task's augmentations, in the reference order."""
    plans = []
    total = sum(len(t) for _, t in subsets)
    bar = progress_bar(total=total, desc="ARC augmentations", unit="task", disable=not progress)
    for subset, tasks in subsets:
        order = list(tasks)
        stream.shuffle(order)
        for task in order:
            pairs = task.pairs(["train", "test"])
            tids, maps = select_augmentations(stream, pairs, num_aug)
            tids = np.concatenate([[0], tids]).astype(np.int64)
            maps = np.concatenate([np.arange(10, dtype=np.uint8)[None], maps]).astype(np.uint8)
            names = [task.task_id] + augmented_names(task.task_id, tids[1:], maps[1:])
            plans.append(TaskPlan(task, subset in test_sets, tids, maps, names))
            bar.update(1)
    bar.close()
    return plans


def _split_layout(plans: Sequence[TaskPlan], split: str) -> list[tuple[int, int, int]]:
    """(plan index, first example row, examples per puzzle) for each group of the split."""
    layout, row = [], 0
    for i, plan in enumerate(plans):
        if split == "test" and not plan.is_test:
            continue
        e = len(plan.split_pairs(split))
        layout.append((i, row, e))
        row += plan.n_puzzles * e
    return layout


def _jobs(
    plans: Sequence[TaskPlan],
    split: str,
    layout: list[tuple[int, int, int]],
    stream: LegacyStream | None,
    canvas: int,
    files: dict[str, RowFile],
) -> Iterator[RenderJob]:
    for plan_idx, row0, _e in layout:
        plan = plans[plan_idx]
        pairs = plan.split_pairs(split)
        pad_r = pad_c = None
        if stream is not None:
            pad_r, pad_c = draw_translations(stream, plan.tids, pairs, canvas)
            pad_r, pad_c = pad_r.astype(np.int16), pad_c.astype(np.int16)
        yield RenderJob(pairs, plan.tids, plan.maps, pad_r, pad_c, canvas, row0, files)


def write_split(
    out_dir: Path,
    plans: Sequence[TaskPlan],
    split: str,
    identifier_of: dict[str, int],
    num_identifiers: int,
    stream: LegacyStream | None,
    workers: int,
    progress: bool,
    canvas: int,
) -> dict[str, int]:
    """Write one split's five arrays and dataset.json; returns its counts."""
    layout = _split_layout(plans, split)
    rows = sum(plans[i].n_puzzles * e for i, _, e in layout)
    puzzle_indices = [0]
    group_indices = [0]
    identifiers = []
    for plan_idx, row0, e in layout:
        plan = plans[plan_idx]
        identifiers.extend(identifier_of[n] for n in plan.names)
        puzzle_indices.extend(row0 + e * np.arange(1, plan.n_puzzles + 1))
        group_indices.append(group_indices[-1] + plan.n_puzzles)
    files = open_row_arrays(out_dir, split, rows, canvas * canvas)
    jobs = _jobs(plans, split, layout, stream, canvas, files)
    bar = progress_bar(total=rows, desc=f"ARC {split} examples", unit="ex", disable=not progress)
    for n in render_rows(jobs, workers if len(layout) > 1 else 1):
        bar.update(n)
    bar.close()
    np.save(
        array_path(out_dir, split, "puzzle_identifiers"), np.asarray(identifiers, dtype=np.int32)
    )
    np.save(
        array_path(out_dir, split, "puzzle_indices"), np.asarray(puzzle_indices, dtype=np.int32)
    )
    np.save(array_path(out_dir, split, "group_indices"), np.asarray(group_indices, dtype=np.int32))
    puzzles = len(identifiers)
    write_metadata(
        out_dir,
        split,
        DatasetMetadata(
            pad_id=PAD_TOKEN,
            ignore_label_id=0,
            blank_identifier_id=0,
            vocab_size=10 + 2,
            seq_len=canvas * canvas,
            num_puzzle_identifiers=num_identifiers,
            total_groups=len(layout),
            mean_puzzle_examples=rows / puzzles if puzzles else 0.0,
            total_puzzles=puzzles,
        ),
    )
    return {"groups": len(layout), "puzzles": puzzles, "examples": rows}


def build_arc_dataset(
    out_dir: str | os.PathLike,
    subsets: Sequence[tuple[str, Sequence[ArcTask]]],
    *,
    test_sets: Sequence[str],
    num_aug: int,
    seed: int,
    canvas: int,
    splits: Sequence[str] = ("train", "test"),
    workers: int | None = None,
    progress: bool = True,
) -> ArcBuildResult:
    """Write the reference ARC layout for validated tasks into `out_dir` (an empty folder).

    `subsets` is [(subset name, tasks in file order)], processed in that order; tasks of the
    subsets in `test_sets` send their test pairs to the test split. `splits=("test",)` writes
    only the test split, identifiers.json and test_puzzles.json, with the same identifiers as
    the full build. `canvas` < 30 pads grids into N x N instead (outside the reference
    layout; grids must fit). `workers` > 1 renders in fresh processes (a forkserver), so a
    script that calls this needs the usual `if __name__ == "__main__":` guard. Callers wrap
    this in `trm.utils.atomic_dir`.
    """
    out_dir = Path(out_dir)
    check_canvas(subsets, canvas)
    test_sets = list(test_sets)
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    stream = LegacyStream(seed)
    plans = plan_tasks(subsets, test_sets, num_aug, stream, progress)

    # Identifiers in order of first appearance: the train split's groups, then the test split's.
    identifier_of: dict[str, int] = {}
    for split in ("train", "test"):
        for plan_idx, _, _ in _split_layout(plans, split):
            for name in plans[plan_idx].names:
                identifier_of.setdefault(name, len(identifier_of) + 1)
    num_identifiers = len(identifier_of) + 1
    timings["augmentations"] = time.perf_counter() - clock

    counts: dict[str, Any] = {
        "tasks": len(plans),
        "tasks_per_subset": {name: len(tasks) for name, tasks in subsets},
        "identifiers": num_identifiers,
        "augmentation_draws_words": stream.words_used,
    }
    for split in ("train", "test"):  # train first: its translations continue the stream
        if split in splits:
            split_stream = stream if split == "train" else None
            clock = time.perf_counter()
            counts[split] = write_split(
                out_dir,
                plans,
                split,
                identifier_of,
                num_identifiers,
                split_stream,
                workers,
                progress,
                canvas,
            )
            timings[f"{split}_split"] = time.perf_counter() - clock
    clock = time.perf_counter()
    names = ["<blank>"] + list(identifier_of)
    write_json(out_dir / "identifiers.json", names, indent=None)
    test_puzzles = {p.task.task_id: p.task.raw for p in plans if p.is_test}
    write_json(out_dir / "test_puzzles.json", test_puzzles, indent=None)
    shortfalls = [
        {
            "task": p.task.task_id,
            "subset": p.task.subset,
            "augmentations": p.n_puzzles - 1,
            "requested": num_aug,
            "missing": num_aug - (p.n_puzzles - 1),
        }
        for p in plans
        if p.n_puzzles - 1 < num_aug
    ]
    counts["tasks_short_of_num_aug"] = len(shortfalls)
    timings["json"] = time.perf_counter() - clock
    return ArcBuildResult(
        counts=counts,
        shortfalls=shortfalls,
        identifiers=num_identifiers,
        timings={k: round(v, 2) for k, v in timings.items()},
    )
