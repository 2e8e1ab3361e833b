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
from trm.errors import USER_ERROR_EXIT, UserError, environment_error_message

# subcommand module -> registers one or more subcommands
COMMANDS: tuple[str, ...] = (
    "trm.data.cli",  # prepare arc|sudoku|maze
    "trm.train.cli",  # train
    "trm.train.adapt_cli",  # adapt
    "trm.hub_cli",  # fetch-checkpoint
    "trm.eval.cli",  # predict, score arc|sudoku|maze|compare, sweep
    "trm.bench.cli",  # bench
    "trm.provenance_cli",  # audit
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
    # SIGTERM unwinds like Ctrl-C: atomic writers remove their temporaries (train installs its
    # own handler while the loop runs, which saves the full state instead).
    from trm.outputs import (
        Terminated,
        install_termination_handler,
        restore_termination_handler,
    )

    previous_handler = install_termination_handler()
    try:
        rc = args.func(args)
    except Terminated as e:
        print(
            f"trm {args.command}: stopped by signal {e.signum}; unfinished outputs removed",
            file=sys.stderr,
        )
        return 128 + e.signum
    except UserError as e:
        return _report_error(args.command, str(e))
    except OSError as e:
        message = environment_error_message(e)
        if message is not None:
            return _report_error(args.command, message)
        raise
    except KeyboardInterrupt:
        # Ctrl-C: the writers already removed their temporaries; no traceback for a user's stop.
        print(f"trm {args.command}: interrupted; unfinished outputs removed", file=sys.stderr)
        return 130
    finally:
        restore_termination_handler(previous_handler)
    return int(rc or 0)


def _report_error(command: str, message: str) -> int:
    # One line: a multi-line message (e.g. a wrapped library error) is joined.
    one_line = " ".join(message.split("\n")).strip()
    print(f"trm {command}: error: {one_line}", file=sys.stderr)
    return USER_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
