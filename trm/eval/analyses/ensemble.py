"""Checkpoint-ensemble voting: the last k step_N weights of one run, each predicted once, voted
pooled (as the reference evaluator does when it is not reset between evaluations) and compared
with the last checkpoint alone.

Layout of `out`: step_<N>/predictions.npz and step_<N>/scores/<mode>/ per checkpoint,
pooled/scores/<mode>/ and compare_<mode>.json (a comparisons file, trm.eval.paired: `pooled`
and every earlier checkpoint against the last one, paired over tasks; names in
trm.eval.analyses.keys).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trm.errors import UserError
from trm.eval.analyses import keys as K

if TYPE_CHECKING:
    from trm.cli.analyse import EnsembleSettings
    from trm.eval.stats import Bootstrap


def select_steps(checkpoint: str | os.PathLike, last: int) -> list[int]:
    """The `last` highest step numbers of the step_N files in a run folder, ascending."""
    from trm.model.checkpoint import step_number

    folder = Path(checkpoint)
    if not folder.is_dir():
        raise UserError(f"checkpoint ensemble needs a run folder of step_N files, got {folder}")
    steps = sorted({n for p in folder.glob("step_*") if (n := step_number(p)) is not None})
    if len(steps) < last:
        raise UserError(
            f"{folder} has {len(steps)} step_N file(s) {steps}, the ensemble asks for the last "
            f"{last}: train with train.checkpoint_every and keep_step_weights so they are kept"
        )
    return steps[-last:]


def compare_with_last(
    scores: dict[str, Path], last: str, mode: str, boot: Bootstrap
) -> list[dict[str, Any]]:
    """Every scored side but `last` against `last` (`scores`: name -> `trm score arc` folder),
    pass@K over tasks, one comparisons record per side and K."""
    from trm.eval.paired import compare
    from trm.eval.schema import SWEEP_KS, arc_pass_key
    from trm.eval.scoring import task_pass_rates

    rates = {name: task_pass_rates(folder / "per_input.csv") for name, folder in scores.items()}
    return [
        compare(
            {t: r[k] for t, r in rates[name].items()},
            {t: r[k] for t, r in rates[last].items()},
            a_name=name,
            b_name=last,
            metric=arc_pass_key(k),
            unit="task",
            boot=boot,
            context={K.ENSEMBLE_MODE: mode},
        )
        for name in scores
        if name != last
        for k in SWEEP_KS
    ]


def run_ensemble(
    s: EnsembleSettings, boot: Bootstrap, modes: tuple[str, ...] = ("paper", "single")
) -> dict[str, list[dict[str, Any]]]:
    """Predict each selected checkpoint, score each and the pool, compare them with the last
    checkpoint; returns {mode: comparisons records}."""
    from trm.cli.predict import PredictSettings
    from trm.eval.paired import write_comparisons
    from trm.eval.predict import run_predict
    from trm.eval.scoring import score_arc
    from trm.utils import atomic_dir

    steps = select_steps(s.checkpoint, s.last)
    names = [K.ensemble_step(step) for step in steps]
    progress = not s.no_progress
    result: dict[str, list[dict[str, Any]]] = {}
    with atomic_dir(Path(s.out)) as tmp:
        preds = []
        for step, name in zip(steps, names, strict=True):
            path = tmp / name / "predictions.npz"
            path.parent.mkdir(parents=True)
            run_predict(
                PredictSettings(
                    checkpoint=s.checkpoint,
                    step=step,
                    data=s.data,
                    out=path,
                    batch_size=s.batch_size,
                    device=s.device,
                    threads=s.threads,
                    no_progress=s.no_progress,
                )
            )
            preds.append(path)
        for mode in modes:
            scores = {name: tmp / name / "scores" / mode for name in names}
            scores[K.ENSEMBLE_POOLED] = tmp / K.ENSEMBLE_POOLED / "scores" / mode
            for name, path in zip(names, preds, strict=True):
                score_arc(s.data, path, scores[name], mode, boot.n_boot, boot.seed, progress)
            score_arc(
                s.data, preds, scores[K.ENSEMBLE_POOLED], mode, boot.n_boot, boot.seed, progress
            )
            result[mode] = compare_with_last(scores, names[-1], mode, boot)
            write_comparisons(
                tmp / K.ensemble_compare_json(mode),
                result[mode],
                title=f"checkpoint ensemble vs the last checkpoint ({mode} mode)",
                base=names[-1],
                mode=mode,
            )
    return result
