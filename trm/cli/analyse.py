"""`trm analyse trajectory|ensemble|checkpoints`: analyses of predictions and of a training run's
checkpoints (trm.eval.analyses). Comparisons of score folders and of sweeps are `trm compare`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from trm.cli.predict import ActSteps, BatchSize
from trm.command import Command, Device, Group, Overwrite, Progress, Threads
from trm.eval.stats import Bootstrap
from trm.kinds import KINDS
from trm.settings import count, input_path, output_path, setting

GROUPS = [
    Group(
        "analyse",
        "analyses of predictions: per-step trajectories and halting, checkpoint ensembles, "
        "accuracy over training",
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
        "folder for trajectory.csv, halting.json, halted_vs_last.json and steps_vs_first.json",
        folder=True,
    )


def trajectory(s: TrajectorySettings) -> int:
    from trm.eval.analyses.trajectory import analyse_trajectory, write_trajectory
    from trm.kinds import require_voted

    require_voted(s.data, "`trm analyse trajectory`")

    steps: list = []
    rows, halting, comparisons = analyse_trajectory(
        s.data, s.predictions, boot=_resampling(s), progress=not s.no_progress, steps_out=steps
    )
    write_trajectory(rows, halting, comparisons, s.out, steps=steps)
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


@dataclass(kw_only=True)
class CheckpointsSettings(BatchSize, ActSteps, Bootstrap, Device, Threads, Progress, Overwrite):
    checkpoint: Path = input_path("training run folder with step_N files (or one of its step_N)")
    data: Path = input_path("prepared dataset folder (its test split is predicted and scored)")
    out: Path = output_path(
        "folder for checkpoints.csv, summary.json, best_vs_last.json and a score folder per step",
        folder=True,
    )
    kind: str = setting(
        "arc",
        choices=list(KINDS),
        help="the dataset's puzzle kind: how it is scored (`trm score <kind>`)",
        config=False,
    )
    steps: list[int] = setting(
        [], check=count(0), help="the step_N to score (default: every step_N of the run)"
    )
    raw: bool = setting(
        False,
        help="where the run trained with EMA, also score the raw weights of its state.pt (its "
        "last saved step) beside the EMA step_N",
    )
    keep_predictions: bool = setting(
        False, help="keep each step's predictions.npz (by default only its scores are kept)"
    )


def checkpoints(s: CheckpointsSettings) -> int:
    from trm.eval.analyses import keys as K
    from trm.eval.analyses.checkpoints import run_checkpoints

    summary = run_checkpoints(s, boot=_resampling(s))
    for r in summary["rows"]:
        print(
            f"step {r[K.CKPT_STEP]:>7} {r[K.CKPT_WEIGHTS]:>7} {r[K.CKPT_MODE]:>6} "
            f"{r[K.CKPT_METRIC]}: {r[K.CKPT_VALUE]:.4f} (n = {r[K.CKPT_N]} {r[K.CKPT_UNIT]}s)"
        )
    print(f"raw weights: {summary[K.CKPT_S_RAW]['reason']}")
    if summary[K.CKPT_S_LAST_WORSE]:
        print(
            f"the last ({summary[K.CKPT_S_LAST]}) is worse than {summary[K.CKPT_S_BEST]} beyond noise"
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
    Command(
        "analyse checkpoints",
        CheckpointsSettings,
        checkpoints,
        help="accuracy over training: every kept step_N of a run predicted and scored, the last "
        "vs the best",
        description="Each step_N is predicted as `trm predict --step N` and scored as `trm score "
        "<kind>` (ARC: paper and single mode) into OUT/<weights>/step_<N>/scores/<mode>/; "
        "where the run trained with EMA, the raw weights of its state.pt too. Writes "
        "OUT/checkpoints.csv (step, weights, mode, metric, value with its 95 % interval and "
        "method, n, unit), OUT/best_vs_last.json (a comparisons file: the last step_N minus "
        "the best other weights, paired over tasks or test examples) and OUT/summary.json "
        "(which weights, why raw weights were or were not scored, whether the last is worse "
        "than the best beyond noise). docs/evaluation.md.",
    ),
]
