"""`trm adapt`: fit the puzzle embeddings of tasks a checkpoint never saw (trm.train.adapt).

The fitting settings (steps, lr, ...) are `trm.train.adapt_schema.AdaptConfig`, the workflow's
analyses.adapt section; this module adds the command's inputs and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trm.command import (
    CheckpointChoice,
    Command,
    Device,
    ModelChoice,
    Overwrite,
    Progress,
    Threads,
)
from trm.settings import input_path, output_path
from trm.train.adapt_schema import AdaptConfig


@dataclass(kw_only=True)
class AdaptSettings(
    AdaptConfig, CheckpointChoice, ModelChoice, Device, Threads, Progress, Overwrite
):
    source_data: Path = input_path(
        "the prepared dataset the checkpoint was trained on (its identifiers.json)"
    )
    data: Path = input_path("prepared dataset with the unseen tasks")
    out: Path = output_path("folder for step_N, all_config.yaml and adapt.json", folder=True)


def adapt(s: AdaptSettings) -> int:
    from trm.train.adapt import adapt as fit

    r = fit(s)
    print(
        f"wrote {s.out}: {r['rows_fitted']} of {r['rows_total']} rows fitted "
        f"({r['rows_copied']} copied) in {r['steps']} steps on {r['fit_examples']} examples; "
        f"eval loss {r['loss_before']:.4f} -> {r['loss_after']:.4f} per example, exact "
        f"{100 * r['exact_before']:.1f} % -> {100 * r['exact_after']:.1f} %; "
        f"{r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU on {r['device']}"
    )
    return 0


COMMANDS = [
    Command(
        "adapt",
        AdaptSettings,
        adapt,
        help="fit the puzzle embeddings of tasks a checkpoint never saw (weights frozen)",
        description=(
            "Rebuild the puzzle-embedding table of --checkpoint (trained on --source-data) for "
            "the identifiers of --data: rows of puzzles --source-data knows are copied, the "
            "others start as the reference initialises them and are fitted on their examples "
            "in --data's train split (an ARC test task's demonstration pairs) with sign-SGD, "
            "every weight frozen. Writes OUT/step_N + OUT/all_config.yaml (for `trm predict "
            "--checkpoint OUT --data DATA`) and OUT/adapt.json. --steps 0 only expands the table."
        ),
    )
]
