"""The `trm` command. Each subcommand lives beside the code it drives and registers itself.

A module listed in COMMANDS exposes `register(subparsers) -> None`, which adds its parser and
sets `func=<callable(args) -> int | None>`. Modules import heavy libraries (torch) inside the
command functions so that `trm --help` and `trm audit` start quickly.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from trm import __version__
from trm.errors import UserError

# subcommand module -> registers one or more subcommands
COMMANDS: tuple[str, ...] = (
    "trm.data.cli",  # prepare arc|sudoku|maze
    "trm.train.cli",  # train
    "trm.hub_cli",  # fetch-checkpoint
    "trm.eval.cli",  # predict, score arc|sudoku|maze|compare, sweep
    "trm.bench.cli",  # bench
    "trm.provenance",  # audit
    "trm.report.cli",  # report
    "trm.llm.cli",  # llm prepare|train|predict|score|make-tiny-model
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trm", description="Reproduce and audit the Tiny Recursive Model paper."
    )
    parser.add_argument("--version", action="version", version=f"trm-repro {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMANDS:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name == mod_name:  # not written yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except (UserError, FileNotFoundError, ValueError) as e:
        print(f"trm {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
