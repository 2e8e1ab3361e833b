"""`trm sweep`: ARC accuracy against the number of voting augmentations, from saved predictions
(trm.eval.sweep; no model is run)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from trm.command import Command, Overwrite, Progress
from trm.errors import InputError
from trm.eval.stats import Bootstrap
from trm.settings import count, input_path, output_path, setting, spec_of


@dataclass(kw_only=True)
class SweepSettings(Bootstrap, Progress, Overwrite):
    data: Path = input_path("prepared ARC dataset folder")
    predictions: Path = input_path("predictions.npz of its test split")
    out: Path = output_path("CSV file to write", folder=False)
    levels: list[int] = setting(
        [0, 1, 4, 16, 64, 256, 576, 1000],
        check=count(0),
        unique=True,
        help="K values, distinct: the original view plus the first K augmented views vote",
    )
    draws: int = setting(
        0, check=count(0, 1_000_000), help="also average over R random choices of K views"
    )

    def __post_init__(self) -> None:
        """At least one level (the declaration's `unique` refuses a repeated one)."""
        if isinstance(self.levels, list) and not self.levels:
            raise InputError("--levels: give at least one level")


def sweep(s: SweepSettings) -> int:
    from trm.eval.sweep import run_sweep, write_sweep_csv
    from trm.kinds import require_voted

    require_voted(s.data, "`trm sweep`")
    rows, note = run_sweep(
        s.data,
        s.predictions,
        s.levels,
        s.draws,
        boot=s,
        progress=not s.no_progress,
        defaulted=s.levels == spec_of(SweepSettings, "levels").default,
    )
    if note:
        print(f"trm sweep: {note}", file=sys.stderr)
    write_sweep_csv(rows, s.out)
    for r in rows:
        print(
            f"level {r['level']:>5}: pass@1 {r['pass@1']:.4f}  pass@2 {r['pass@2']:.4f}  "
            f"mean votes {r['mean_votes']:.1f}"
        )
    return 0


COMMANDS = [
    Command(
        "sweep",
        SweepSettings,
        sweep,
        help="ARC accuracy against the number of voting augmentations (no model run)",
        description="Level K keeps the votes of the un-augmented copy and the first K augmented "
        "copies of each task, in builder order. Writes a CSV: level, pass@1, pass@2 with 95 % "
        "intervals, mean and minimum effective votes, number of test inputs.",
    )
]
