"""Puzzle kinds: what differs between ARC, Sudoku and Maze, declared once.

Everything that used to compare a kind string (scoring, comparisons, the report, the workflow's
config checks) asks this registry instead. Adding a kind: its data module (a builder behind
`trm prepare <name>`), one `PuzzleKind` here, and docs (docs/recipes.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from trm.errors import InputError


@dataclass(frozen=True)
class PuzzleKind:
    name: str  # the dataset kind in configs and manifests, the word after `trm prepare`/`score`
    title: str  # how the report names it, and the prefix of its metric keys
    headline: str  # the paper's figure for this kind: the metric key the report leads with
    unit: str  # what an interval resamples: one unit per ...
    voted: bool  # the test split holds augmented views that vote (ARC): paper and single modes,
    # the accuracy-vs-augmentations sweep and the analyses apply
    per_unit_file: str  # the per-unit results `trm score` writes beside metrics.json

    @property
    def modes(self) -> tuple[str, ...]:
        """Score modes: voting over views and the un-augmented view alone (ARC), else one."""
        return ("paper", "single") if self.voted else ("paper",)


KINDS: dict[str, PuzzleKind] = {
    k.name: k
    for k in (
        PuzzleKind("arc", "ARC", "ARC/pass@2", "task", True, "per_input.csv"),
        PuzzleKind(
            "sudoku", "Sudoku", "Sudoku/exact_accuracy", "test example", False, "per_example.csv"
        ),
        PuzzleKind("maze", "Maze", "Maze/exact_accuracy", "test example", False, "per_example.csv"),
    )
}


def kind(name: str) -> PuzzleKind:
    """The registered kind `name`, or an error listing the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"unknown puzzle kind {name!r} (known: {', '.join(KINDS)})") from None
