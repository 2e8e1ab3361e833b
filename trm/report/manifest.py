"""The report's dataset manifest: what a build read, wrote and counted (manifest.json of `trm
prepare`), each count under a human label with its unit, in the words of the dataset's puzzle
kind (trm.kinds): an ARC build counts tasks and their augmented copies, a Sudoku or Maze build
counts puzzles and their shuffled copies."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trm.kinds import PuzzleKind
from trm.utils import read_json

# The counts of trm/data (arc.py, sudoku.py, maze.py): key -> (label, unit) for ARC ...
ARC_COUNTS: dict[str, tuple[str, str]] = {
    "tasks": ("ARC tasks read", "tasks"),
    "tasks_per_subset": ("ARC tasks read, per subset", "tasks"),
    "identifiers": ("puzzle identifiers: one per augmented task, plus <blank>", "identifiers"),
    "augmentation_draws_words": (
        "random numbers the augmentation drew (equal across rebuilds with the same seed)",
        "words",
    ),
    "tasks_short_of_num_aug": ("tasks with fewer distinct augmentations than num_aug", "tasks"),
    "puzzles": ("puzzles: each task and its augmented copies", "puzzles"),
    "examples": ("examples: input/output pairs", "examples"),
    "groups": ("groups: a task with its augmented copies", "groups"),
}


def _grid_counts(title: str) -> dict[str, tuple[str, str]]:
    """... and for a kind without tasks (Sudoku, Maze): one puzzle is one task."""
    return {
        "csv_rows": ("rows read from the source CSV", "rows"),
        "tasks": (f"{title} puzzles read", "puzzles"),
        "identifiers": (
            f"puzzle identifiers ({title} puzzles share the blank one: no per-puzzle embedding)",
            "identifiers",
        ),
        "puzzles": (f"{title} puzzles, shuffled copies included", "puzzles"),
        "examples": ("examples: puzzle/solution pairs", "examples"),
        "groups": (f"groups: a {title} puzzle with its shuffled copies", "groups"),
        "after_min_rating": ("puzzles left after the difficulty filter", "puzzles"),
        "tasks_short_of_num_aug": ("puzzles with fewer distinct shuffles than num_aug", "puzzles"),
    }


SPLITS = {"train": "training split", "test": "test split"}


def count_label(key: str, kind: PuzzleKind | None) -> tuple[str, str]:
    """(label, unit) of a manifest count; an unknown key is shown in words, without a unit."""
    known = ARC_COUNTS if kind is None or kind.voted else _grid_counts(kind.title)
    if key in SPLITS:
        return SPLITS[key], ""
    return known.get(key, (key.replace("_", " "), ""))


def count_rows(
    counts: Mapping[str, Any], kind: PuzzleKind | None = None, prefix: str = ""
) -> list[dict[str, Any]]:
    """Nested counts as table rows {name, key, value, unit}: a dict value becomes one row per
    key (named `outer › inner`), never a Python dict printed in a cell."""
    rows: list[dict[str, Any]] = []
    for key, value in counts.items():
        label, unit = count_label(str(key), kind)
        name = f"{prefix} › {label}" if prefix else label
        if isinstance(value, Mapping):
            rows.append({"name": name, "key": str(key), "value": None, "unit": ""})
            rows += count_rows(value, kind, name)
        else:
            rows.append({"name": name, "key": str(key), "value": value, "unit": unit})
    return rows


def _is_shortfall(key: str) -> bool:
    return "shortfall" in key.lower() or "short_of" in key.lower()


def manifest_summary(data_dir: str | os.PathLike, kind: PuzzleKind | None = None) -> dict[str, Any]:
    manifest_path = Path(data_dir) / "manifest.json"
    if not manifest_path.exists():
        return {"path": str(manifest_path), "missing": True}
    m = read_json(manifest_path, "dataset manifest")
    counts = m.get("counts", {})
    shortfalls = {k: v for k, v in counts.items() if _is_shortfall(k)}
    for k, v in counts.items():  # also one level down (e.g. counts per split)
        if isinstance(v, dict):
            shortfalls.update({f"{k}.{kk}": vv for kk, vv in v.items() if _is_shortfall(kk)})
    outputs = m.get("outputs", [])
    return {
        "path": str(manifest_path),
        # a recorded argv list is shown shell-quoted: pasting it runs what ran, nothing more
        "command": shlex.join(map(str, cmd)) if isinstance(cmd := m.get("command"), list) else cmd,
        "params": m.get("params", {}),
        "counts": count_rows({k: v for k, v in counts.items() if k not in shortfalls}, kind),
        "shortfalls": [
            {"name": count_label(k.split(".")[-1], kind)[0], "key": k, "value": v}
            for k, v in shortfalls.items()
        ],
        "inputs": m.get("inputs", []),
        "n_files": len(outputs),
        "total_mb": sum(o.get("size", 0) for o in outputs) / 2**20,
        "created": m.get("created"),
    }
