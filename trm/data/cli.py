"""`trm prepare <dataset>`: each dataset's builder registers its own sub-subcommand."""

from __future__ import annotations

import argparse
import importlib

PREPARERS: dict[str, str] = {
    "arc": "trm.data.arc_cli",
    "arc-tasks": "trm.data.arc_generated_cli",
    "sudoku": "trm.data.sudoku_cli",
    "maze": "trm.data.maze_cli",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="build a dataset in the reference on-disk format")
    psub = p.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    for mod_name in PREPARERS.values():
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name == mod_name:
                continue
            raise
        mod.register(psub)
