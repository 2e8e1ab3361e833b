"""`trm analyse trajectory|ensemble`: analyses of predictions (trm.eval.analyses). Comparisons
of score folders and of sweeps are `trm compare`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from trm.cli.predict import BatchSize
from trm.command import Command, Device, Group, Overwrite, Progress, Threads
from trm.eval.stats import Bootstrap
from trm.settings import count, input_path, output_path, setting

GROUPS = [
    Group(
        "analyse",
        "analyses of predictions: per-step trajectories and halting, checkpoint ensembles",
    )
]


def _resampling(s: Bootstrap) -> Bootstrap:
    """The settings' Bootstrap fields alone (a comparisons record states them, not the rest)."""
    return Bootstrap(**{f.name: getattr(s, f.name) for f in dataclasses.fields(Bootstrap)})


@dataclass(kw_only=True)
class TrajectorySettings(Bootstrap, Progress, Overwrite):
    data: Path = input_path("prepared ARC dataset folder")
    predictions: Path = input_path("predictions.npz written by `trm predict --trajectory`")
    out: Path = output_path(
        "folder for trajectory.csv, halting.json and halted_vs_last.json", folder=True
    )


def trajectory(s: TrajectorySettings) -> int:
    from trm.eval.analyses.trajectory import analyse_trajectory, write_trajectory
    from trm.kinds import require_voted

    require_voted(s.data, "`trm analyse trajectory`")

    rows, halting, comparisons = analyse_trajectory(
        s.data, s.predictions, boot=_resampling(s), progress=not s.no_progress
    )
    write_trajectory(rows, halting, comparisons, s.out)
    for r in rows:
        print(
            f"{r['mode']:>6} step {r['step']:>3}: pass@1 {r['pass@1']:.4f}  pass@2 {r['pass@2']:.4f}"
        )
    print(json.dumps(halting))
    for c in comparisons:
        print(
            f"{c['context']['mode']:>6} {c['metric']}: halted {c['a_value']:.4f}  "
            f"last {c['b_value']:.4f}  difference {c['diff']:+.4f}"
        )
    return 0


@dataclass(kw_only=True)
class EnsembleSettings(BatchSize, Bootstrap, Device, Threads, Progress, Overwrite):
    checkpoint: Path = input_path("training run folder with step_N files")
    data: Path = input_path("prepared ARC dataset folder")
    out: Path = output_path("folder for step_<N>/, pooled/ and compare_<mode>.json", folder=True)
    last: int = setting(
        2, check=count(1, 1000), help="vote pooled over the last K step_N of the training run"
    )


def ensemble(s: EnsembleSettings) -> int:
    from trm.eval.analyses.ensemble import run_ensemble
    from trm.kinds import require_voted

    require_voted(s.data, "`trm analyse ensemble`")

    for mode, records in run_ensemble(s, boot=_resampling(s)).items():
        for c in records:
            print(
                f"{mode} {c['a']} vs {c['b']} {c['metric']}: {c['a_value']:.4f} vs "
                f"{c['b_value']:.4f} ({c['diff']:+.4f})"
            )
    return 0


COMMANDS = [
    Command(
        "analyse trajectory",
        TrajectorySettings,
        trajectory,
        help="ARC pass@1/2 at every ACT step (paper and single mode) and the halting analysis",
        description="Reads a predictions file written by `trm predict --trajectory`; writes "
        "OUT/trajectory.csv (mode, step, pass@K with 95 % intervals, share halted), "
        "OUT/halting.json (first step with q_halt > 0, ACT steps saved) and "
        "OUT/halted_vs_last.json (a comparisons file: accuracy had evaluation halted at each "
        "example's first halting step minus the last step's, paired over tasks).",
    ),
    Command(
        "analyse ensemble",
        EnsembleSettings,
        ensemble,
        help="ARC checkpoint ensemble: the last K step_N of a run, each predicted, voted pooled",
        description="Writes OUT/step_<N>/{predictions.npz,scores/<mode>/}, "
        "OUT/pooled/scores/<mode>/ and OUT/compare_<mode>.json (a comparisons file: pooled and "
        "every checkpoint against the last one, paired over tasks).",
    ),
]
