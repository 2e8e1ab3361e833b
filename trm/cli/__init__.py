"""The `trm` command.

Every command is declared once in the module of trm/cli/ named after it (`trm score ...` in
trm/cli/score.py): a `trm.command.Command` per subcommand in the module's COMMANDS, and the help
of its grouping word (`score`) in GROUPS. The parser, the value checks and the output guard come
from those declarations (trm.command). Modules import heavy libraries (torch) inside the command
functions so that `trm --help` and `trm audit` start quickly.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from trm import __version__
from trm.errors import USER_ERROR_EXIT, UserError, environment_error_message

# The command modules, in the order `trm --help` lists them: trm/cli/<module>.py.
MODULES: tuple[str, ...] = (
    "prepare",
    "train",
    "adapt",
    "fetch_checkpoint",
    "predict",
    "score",
    "compare",
    "sweep",
    "analyse",
    "bench",
    "audit",
    "report",
    "llm",
    "claims",
)


def _module(name: str):  # noqa: ANN202
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:  # not written (yet)
            return None
        raise


def commands() -> list:
    """Every declared command (trm.command.Command), in help order."""
    out = []
    for name in MODULES:
        mod = _module(f"trm.cli.{name}")
        if mod is not None:
            out += list(mod.COMMANDS)
    return out


def command(name: str):  # noqa: ANN201 (trm.command.Command)
    """The declared command `name` (the words after `trm`, e.g. "score arc")."""
    for cmd in commands():
        if cmd.name == name:
            return cmd
    known = ", ".join(c.name for c in commands())
    raise KeyError(f"trm {name} is not a declared command (declared: {known})")


def build_parser() -> argparse.ArgumentParser:
    from trm.command import build_parser as build

    groups = []
    for name in MODULES:
        mod = _module(f"trm.cli.{name}")
        if mod is not None:
            groups += list(getattr(mod, "GROUPS", ()))
    parser = build(
        commands(),
        groups,
        prog="trm",
        description="Reproduce and audit the Tiny Recursive Model paper.",
    )
    parser.add_argument("--version", action="version", version=f"trm-repro {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = getattr(args, "_command", None)
    if command is None:  # `trm` alone
        parser.print_help()
        return 2
    name = command.name
    # SIGTERM unwinds like Ctrl-C: atomic writers remove their temporaries (train installs its
    # own handler while the loop runs, which saves the full state instead).
    from trm.outputs import (
        Terminated,
        install_termination_handler,
        restore_termination_handler,
    )

    previous_handler = install_termination_handler()
    try:
        from trm.command import invoke, settings_from_namespace

        rc = invoke(command, settings_from_namespace(command.settings, args))
    except Terminated as e:
        print(
            f"trm {name}: stopped by signal {e.signum}; unfinished outputs removed",
            file=sys.stderr,
        )
        return 128 + e.signum
    except UserError as e:
        return _report_error(name, str(e))
    except OSError as e:
        message = environment_error_message(e)
        if message is not None:
            return _report_error(name, message)
        raise
    except KeyboardInterrupt:
        # Ctrl-C: the writers already removed their temporaries; no traceback for a user's stop.
        print(f"trm {name}: interrupted; unfinished outputs removed", file=sys.stderr)
        return 130
    finally:
        restore_termination_handler(previous_handler)
    return int(rc or 0)


def _report_error(command: str, message: str) -> int:
    from trm.caller import in_callers_words

    # One line: a multi-line message (e.g. a wrapped library error) is joined. Inside the
    # workflow, each flag a config key set is named by that key (trm.caller).
    one_line = in_callers_words(" ".join(message.split("\n")).strip())
    print(f"trm {command}: error: {one_line}", file=sys.stderr)
    return USER_ERROR_EXIT
