"""`trm prepare arc-tasks`: argument parsing only; the generator is trm.data.arc_generated."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from trm.data.arc_generated import DEFAULT_SUBSETS, FAMILIES, PREFIX_NAME, GeneratorConfig
from trm.errors import UserError


def _parse_tasks(values: list[str]) -> dict[str, int]:
    """['training=32', 'evaluation=16'] or ['16'] (every default subset) -> {subset: count}."""
    if len(values) == 1 and values[0].isdigit():
        return {s: int(values[0]) for s in DEFAULT_SUBSETS}
    out: dict[str, int] = {}
    for v in values:
        subset, _, n = v.partition("=")
        if not subset or not n.isdigit():
            raise UserError(f"--tasks: expected SUBSET=N (e.g. training=32), got {v!r}")
        out[subset] = int(n)
    return out


def register(psub: argparse._SubParsersAction) -> None:
    d = GeneratorConfig()
    p = psub.add_parser(
        "arc-tasks",
        help="generated ARC-format tasks (colour maps, reflections, shifts, gravity, ...)",
        description=(
            "Write generated grid-transformation tasks as Kaggle combined files "
            f"OUT/{PREFIX_NAME}_<subset>_{{challenges,solutions}}.json (+ manifest.json); then "
            f"`trm prepare arc --input-prefix OUT/{PREFIX_NAME} --subsets training evaluation "
            "--test-set evaluation ...` builds the dataset."
        ),
    )
    p.add_argument("--out", required=True, help="output folder (replaced atomically)")
    p.add_argument(
        "--tasks",
        nargs="+",
        default=[f"{k}={v}" for k, v in d.tasks.items()],
        help="tasks per subset, SUBSET=N ... or one N for training and evaluation "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--families",
        nargs="+",
        default=list(d.families),
        choices=list(FAMILIES),
        help="rule families, cycled over each subset's tasks (default: all)",
    )
    p.add_argument("--demos", type=int, default=d.demos, help="demonstration pairs per task")
    p.add_argument("--tests", type=int, default=d.tests, help="test pairs per task")
    p.add_argument("--min-size", type=int, default=d.min_size, help="smallest grid side")
    p.add_argument("--max-size", type=int, default=d.max_size, help="largest grid side (<= 30)")
    p.add_argument(
        "--colours", type=int, default=d.colours, help="non-background colours a task uses"
    )
    p.add_argument("--density", type=float, default=d.density, help="chance a cell is coloured")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of every draw (default 0)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from trm.data.arc_generated import prepare_arc_tasks

    cfg = GeneratorConfig(
        tasks=_parse_tasks(args.tasks),
        families=tuple(args.families),
        demos=args.demos,
        tests=args.tests,
        min_size=args.min_size,
        max_size=args.max_size,
        colours=args.colours,
        density=args.density,
        seed=args.seed,
    )
    command = shlex.join(["trm", "prepare", "arc-tasks", *sys.argv[3:]])
    manifest = prepare_arc_tasks(args.out, cfg, command=command)
    counts = ", ".join(f"{s}: {c['tasks']} tasks" for s, c in manifest["counts"].items())
    print(
        f"wrote {args.out} ({counts}); input prefix {Path(args.out) / PREFIX_NAME}", file=sys.stderr
    )
    return 0
