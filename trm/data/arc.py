"""ARC tasks: the format's constants and validated parsing of a task's JSON.

Where the rest of the builder lives: trm.data.arc_sources (which files or package data are
read), trm.data.arc_stream (the reference's random draws), trm.data.arc_symmetry (distinct
augmentations), trm.data.arc_render (rows rendered in worker processes), trm.data.arc_build
(the reference layout on disk) and trm.data.arc_prepare (`trm prepare arc`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trm.data.arc_names import REFERENCE_SECOND_TEST_SET  # noqa: F401 (re-exported)
from trm.errors import InputError

ARC_MAX_GRID = 30
REFERENCE_CANVAS = ARC_MAX_GRID  # the reference pads every grid into 30x30
# The reference always sends this subset's test pairs to the test split (test_set_name2).

PAD_TOKEN, EOS_TOKEN, COLOUR_OFFSET = 0, 1, 2


class ArcInputError(InputError):
    """Bad ARC input: the message names the file, task and field."""


@dataclass
class ArcTask:
    """One validated task. `examples` keeps the JSON order of the "train"/"test" keys, which
    decides the example order inside a puzzle (Kaggle files list "test" first)."""

    task_id: str
    subset: str
    examples: list[tuple[str, np.ndarray, np.ndarray]]  # (kind, input, output), kind train|test
    raw: dict[str, Any]  # the task JSON with test outputs filled in (for test_puzzles.json)
    source: str = ""
    solution_source: str = ""  # the file holding the test outputs (errors name it)

    def pairs(self, kinds: Iterable[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        kinds = set(kinds)
        return [(i, o) for k, i, o in self.examples if k in kinds]


def grid_to_array(grid: Any, where: str) -> np.ndarray:
    """A JSON grid as uint8 [H, W], or an ArcInputError naming `where`."""
    if not isinstance(grid, list) or not grid:
        raise ArcInputError(f"{where}: grid must be a non-empty list of rows, got {_short(grid)}")
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list) or not row:
            raise ArcInputError(f"{where}: row {r} must be a non-empty list, got {_short(row)}")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise ArcInputError(
                f"{where}: grid is not rectangular (row 0 has {width} cells, row {r} has {len(row)})"
            )
        for c, v in enumerate(row):
            if type(v) is not int:
                raise ArcInputError(f"{where}: cell [{r}][{c}] is {v!r}, not an integer colour")
            if not 0 <= v <= 9:
                raise ArcInputError(f"{where}: cell [{r}][{c}] has colour {v}, outside 0..9")
    h, w = len(grid), width
    if h > ARC_MAX_GRID or w > ARC_MAX_GRID:
        raise ArcInputError(f"{where}: grid is {h}x{w}, larger than {ARC_MAX_GRID}x{ARC_MAX_GRID}")
    return np.array(grid, dtype=np.uint8)


def _short(x: Any, n: int = 60) -> str:
    s = repr(x)
    return s if len(s) <= n else s[: n - 3] + "..."


def parse_task(
    task_id: str,
    raw: Any,
    subset: str,
    source: str,
    require_train: bool,
    solution_source: str | None = None,
) -> ArcTask:
    """Validate one task whose test pairs already carry their outputs.

    Errors name `source` (the challenges file), or `solution_source` for test outputs.
    """
    where = f"{source}: task {task_id}"
    sol_where = f"{solution_source or source}: task {task_id}"
    if not isinstance(raw, dict):
        raise ArcInputError(f"{where}: a task must be an object with 'train' and 'test'")
    for key in raw:
        if key not in ("train", "test"):
            raise ArcInputError(f"{where}: unexpected field {key!r} (only 'train' and 'test')")
    for key in ("train", "test"):
        if not isinstance(raw.get(key), list):
            raise ArcInputError(f"{where}: field '{key}' missing or not a list")
    if not raw["test"]:
        raise ArcInputError(f"{where}: field 'test' has no pairs")
    if require_train and not raw["train"]:
        # The reference crashes on this (randint(0, 0)): a test-set task needs demonstrations.
        raise ArcInputError(f"{where}: field 'train' has no pairs (a test-set task needs them)")
    examples = []
    for kind, pairs in raw.items():
        for i, pair in enumerate(pairs):
            if not isinstance(pair, dict):
                raise ArcInputError(f"{where}: {kind}[{i}] must be an object")
            for part in ("input", "output"):
                if part not in pair:
                    what = "solution missing" if kind == "test" and part == "output" else "missing"
                    raise ArcInputError(f"{where}: field {kind}[{i}].{part}: {what}")
            inp = grid_to_array(pair["input"], f"{where}: field {kind}[{i}].input")
            out_where = sol_where if kind == "test" else where
            out = grid_to_array(pair["output"], f"{out_where}: field {kind}[{i}].output")
            examples.append((kind, inp, out))
    return ArcTask(task_id, subset, examples, raw, source, solution_source or source)


def check_canvas(subsets: Sequence[tuple[str, Sequence[ArcTask]]], canvas: int) -> None:
    """Every grid fits an N x N canvas, or an ArcInputError naming the file, task and field."""
    if canvas == ARC_MAX_GRID:
        return  # parse_task already refused grids over 30x30
    for _, tasks in subsets:
        for task in tasks:
            index = {"train": 0, "test": 0}
            for kind, inp, out in task.examples:
                i = index[kind]
                index[kind] += 1
                for part, grid in (("input", inp), ("output", out)):
                    h, w = grid.shape
                    if h > canvas or w > canvas:
                        is_solution = kind == "test" and part == "output"
                        where = task.solution_source if is_solution else task.source
                        raise ArcInputError(
                            f"{where}: task {task.task_id}: field {kind}[{i}].{part}: grid is "
                            f"{h}x{w}, larger than the {canvas}x{canvas} canvas (--canvas {canvas})"
                        )
