"""`trm prepare arc|sudoku|maze|arc-tasks`: build a dataset in the reference on-disk layout.

One command per puzzle kind, made from the kind's `Builder` in the registry (trm.kinds): its
settings declaration plus `--out`, `--overwrite` and `--no-progress`. `arc-tasks` writes
generated ARC task files (trm.data.arc_generated) that `trm prepare arc` reads.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trm.command import Command, Group, Overwrite, Progress, refuse_overlap
from trm.data.arc_generated import PREFIX_NAME, GeneratorConfig
from trm.kinds import KINDS, PuzzleKind
from trm.settings import output_path

GROUPS = [
    Group(
        "prepare",
        "build a dataset in the reference on-disk layout",
        "Build a dataset folder (train/ and test/ arrays, identifiers.json, manifest.json with "
        "the sha256 of every file read and written), written atomically.",
    )
]

OUT_HELP = "dataset folder, written atomically (an earlier output of this command is replaced)"


def _summary(out: Path, manifest: dict[str, Any]) -> str:
    counts = [(s, manifest["counts"][s]) for s in ("train", "test") if s in manifest["counts"]]
    splits = "; ".join(
        f"{s}: {c['groups']} groups, {c['puzzles']} puzzles, {c['examples']} examples"
        for s, c in counts
    )
    return f"wrote {out}: {splits}"


def _kind_command(kind: PuzzleKind) -> Command:
    builder = kind.builder
    settings = dataclasses.make_dataclass(
        f"Prepare{kind.title}Settings",
        [("out", Path, output_path(OUT_HELP, folder=True))],
        bases=(Overwrite, Progress, builder.load(builder.settings)),  # its settings first
        kw_only=True,
    )

    def run(s: Any) -> int:
        prepare = builder.load(builder.prepare)
        manifest = prepare(
            s,
            s.out,
            command=command.command_line(s),
            progress=not s.no_progress,
            check_inputs=lambda paths: refuse_overlap(command, s, paths),
        )
        print(_summary(s.out, manifest), file=sys.stderr)
        return 0

    command = Command(
        f"prepare {kind.name}", settings, run, help=builder.help, description=builder.description
    )
    return command


@dataclass(kw_only=True)
class ArcTasksSettings(GeneratorConfig, Overwrite):
    out: Path = output_path(
        f"folder for {PREFIX_NAME}_<subset>_{{challenges,solutions}}.json and manifest.json",
        folder=True,
    )


def arc_tasks(s: ArcTasksSettings) -> int:
    from trm.data.arc_generated import prepare_arc_tasks

    manifest = prepare_arc_tasks(s.out, s, command=ARC_TASKS.command_line(s))
    counts = ", ".join(f"{name}: {c['tasks']} tasks" for name, c in manifest["counts"].items())
    print(f"wrote {s.out} ({counts}); input prefix {s.out / PREFIX_NAME}", file=sys.stderr)
    return 0


ARC_TASKS = Command(
    "prepare arc-tasks",
    ArcTasksSettings,
    arc_tasks,
    help="generated ARC-format tasks (colour maps, reflections, shifts, gravity, ...)",
    description=(
        "Write generated grid-transformation tasks as Kaggle combined files "
        f"OUT/{PREFIX_NAME}_<subset>_{{challenges,solutions}}.json (+ manifest.json); then "
        f"`trm prepare arc --input-prefix OUT/{PREFIX_NAME} --subsets training evaluation "
        "--test-set evaluation ...` builds the dataset."
    ),
)

COMMANDS = [*(_kind_command(k) for k in KINDS.values()), ARC_TASKS]
