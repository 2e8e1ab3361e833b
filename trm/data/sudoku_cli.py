"""`trm prepare sudoku`: argument parsing only; the build is trm.data.sudoku.prepare_sudoku."""

from __future__ import annotations

import argparse
import shlex

from trm.data.puzzle_csv import DEFAULT_HF_TIMEOUT_S


def add_common_puzzle_options(
    p: argparse.ArgumentParser, default_source: str, default_num_aug: int, aug_help: str
) -> None:
    """Options shared by `prepare sudoku` and `prepare maze`."""
    p.add_argument(
        "--source",
        default=default_source,
        help=f"hf:ORG/NAME[@REVISION] (Hub dataset with train.csv/test.csv), csv:DIR (a folder with "
        f"train.csv and test.csv) or generate (offline generator); default {default_source}",
    )
    p.add_argument(
        "--out",
        required=True,
        help="output dataset folder, written atomically; an existing one is replaced only if an "
        "earlier run of this command wrote it (or with --overwrite)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if it is not an earlier output of this command",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--num-aug", type=int, default=default_num_aug, help=aug_help)
    p.add_argument(
        "--subsample",
        type=int,
        default=None,
        help="keep this many random train puzzles (before augmentation)",
    )
    p.add_argument(
        "--test-subsample",
        type=int,
        default=None,
        help="keep this many random test puzzles (default: all)",
    )
    p.add_argument("--num", type=int, default=None, help="generate: number of train puzzles")
    p.add_argument(
        "--num-test",
        type=int,
        default=None,
        help="generate: number of test puzzles (default: --num)",
    )
    p.add_argument(
        "--hf-timeout",
        type=float,
        default=DEFAULT_HF_TIMEOUT_S,
        help=f"give up a Hub download after this many seconds (default {DEFAULT_HF_TIMEOUT_S:g})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def command_line(dataset: str, args: argparse.Namespace) -> str:
    """The equivalent command line, rebuilt from the parsed options (also when called in-process)."""
    parts = ["trm", "prepare", dataset]
    for key, value in vars(args).items():
        if key in ("func", "command", "dataset") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


def _run(args: argparse.Namespace) -> int:
    from trm.data.sudoku import prepare_sudoku

    manifest = prepare_sudoku(
        args.out,
        source=args.source,
        size=args.size,
        num=args.num,
        num_test=args.num_test,
        seed=args.seed,
        num_aug=args.num_aug,
        subsample=args.subsample,
        test_subsample=args.test_subsample,
        min_rating=args.min_rating,
        hf_timeout_s=args.hf_timeout,
        command=command_line("sudoku", args),
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    c = manifest["counts"]
    print(
        f"wrote {args.out}: train {c['train']['examples']} examples, test {c['test']['examples']} examples"
    )
    return 0


def register(psub: argparse._SubParsersAction) -> None:
    from trm.data.sudoku import DEFAULT_HF_SOURCE

    p = psub.add_parser(
        "sudoku",
        help="Sudoku-Extreme (Hub, local CSV or generated 4x4/9x9 puzzles)",
        description="Build a Sudoku dataset in the reference layout (seq_len size*size, vocab size+2).",
    )
    add_common_puzzle_options(
        p,
        DEFAULT_HF_SOURCE,
        0,
        "validity-preserving shuffles per train puzzle (paper: 1000; default 0)",
    )
    p.add_argument(
        "--size",
        type=int,
        default=None,
        choices=(4, 9),
        help="grid size: generated puzzles (default 9); for CSV sources, the size every row must have",
    )
    p.add_argument(
        "--min-rating",
        type=int,
        default=None,
        help="keep puzzles whose rating (solver backtracks) is at least this (both splits, as the reference's min_difficulty)",
    )
    p.set_defaults(func=_run)
