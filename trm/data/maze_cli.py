"""`trm prepare maze`: argument parsing only; the build is trm.data.maze.prepare_maze."""

from __future__ import annotations

import argparse

from trm.data.sudoku_cli import add_common_puzzle_options, command_line


def _run(args: argparse.Namespace) -> int:
    from trm.data.maze import prepare_maze

    manifest = prepare_maze(
        args.out,
        source=args.source,
        size=args.size,
        num=args.num,
        num_test=args.num_test,
        seed=args.seed,
        num_aug=args.num_aug,
        subsample=args.subsample,
        test_subsample=args.test_subsample,
        min_path_length=args.min_path_length,
        loop_fraction=args.loop_fraction,
        check_paths=not args.no_check_paths,
        hf_timeout_s=args.hf_timeout,
        command=command_line("maze", args),
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    c = manifest["counts"]
    print(
        f"wrote {args.out}: train {c['train']['examples']} examples, test {c['test']['examples']} examples"
    )
    return 0


def register(psub: argparse._SubParsersAction) -> None:
    from trm.data.maze import DEFAULT_HF_SOURCE, DEFAULT_LOOP_FRACTION, DEFAULT_NUM_AUG, MAX_SIZE

    p = psub.add_parser(
        "maze",
        help="Maze-Hard (Hub, local CSV or generated mazes)",
        description="Build a Maze dataset in the reference layout (charset '# SGo', vocab 6).",
    )
    add_common_puzzle_options(
        p,
        DEFAULT_HF_SOURCE,
        DEFAULT_NUM_AUG,
        f"dihedral transforms 1..K added per train maze, 0..7 (default {DEFAULT_NUM_AUG}: all 8 symmetries)",
    )
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help=f"grid side: generated mazes, 4..{MAX_SIZE} (default {MAX_SIZE}); for CSV sources, "
        "the side every row must have",
    )
    p.add_argument(
        "--min-path-length",
        type=int,
        default=None,
        help="generate: shortest S->G path of at least this many moves (default size*size//8; 112 for 30x30)",
    )
    p.add_argument(
        "--loop-fraction",
        type=float,
        default=DEFAULT_LOOP_FRACTION,
        help=f"generate: fraction of inner walls opened to make loops (default {DEFAULT_LOOP_FRACTION})",
    )
    p.add_argument(
        "--no-check-paths",
        action="store_true",
        help="skip checking that every CSV answer is a shortest path (structure is still checked)",
    )
    p.set_defaults(func=_run)
