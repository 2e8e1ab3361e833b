"""Checkpoint-ensemble voting: the last k step_N weights of one run, each predicted once, voted
pooled (as the reference evaluator does when it is not reset between evaluations) and compared
with the last checkpoint alone.

Layout of `out`: step_<N>/predictions.npz and step_<N>/scores/<mode>/ per checkpoint,
pooled/scores/<mode>/ and compare_<mode>.json (a comparisons file of trm.eval.paired: every
other checkpoint and `pooled`, each against the last checkpoint).
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
    from trm.model.checkpoint import step_files

    folder = Path(checkpoint)
    if not folder.is_dir():
        raise UserError(f"checkpoint ensemble needs a run folder of step_N files, got {folder}")
    steps = list(step_files(folder))
    if len(steps) < last:
        raise UserError(
            f"{folder} has {len(steps)} step_N file(s) {steps}, the ensemble asks for the last "
            f"{last}: train with train.checkpoint_every and keep_step_weights so they are kept"
        )
    return steps[-last:]


def run_ensemble(
    s: EnsembleSettings, *, boot: Bootstrap, modes: tuple[str, ...] = ("paper", "single")
) -> dict[str, list[dict[str, Any]]]:
    """Predict each selected checkpoint, score each and the pool; returns {mode: comparisons}."""
    from trm.cli.predict import PredictSettings
    from trm.eval.compare import compare_runs
    from trm.eval.paired import write_comparisons
    from trm.eval.predict import run_predict
    from trm.eval.scoring import score_arc
    from trm.utils import atomic_dir

    steps = select_steps(s.checkpoint, s.last)
    progress = not s.no_progress
    # each checkpoint is predicted as `trm predict --step N` with the ensemble's own settings
    shared = {
        name: getattr(s, name)
        for name in ("checkpoint", "data", "batch_size", "device", "threads", "no_progress")
    }
    result: dict[str, list[dict[str, Any]]] = {}
    with atomic_dir(Path(s.out)) as tmp:
        preds = []
        for step in steps:
            path = tmp / f"step_{step}" / "predictions.npz"
            path.parent.mkdir(parents=True)
            run_predict(PredictSettings(**shared, step=step, out=path))
            preds.append(path)
        for mode in modes:
            for step, path in zip(steps, preds, strict=True):
                out = tmp / f"step_{step}" / "scores" / mode
                score_arc(s.data, path, out, mode, boot=boot, progress=progress)
            pooled = tmp / "pooled" / "scores" / mode
            score_arc(s.data, preds, pooled, mode, boot=boot, progress=progress)
            runs = {f"step_{step}": tmp / f"step_{step}" / "scores" / mode for step in steps}
            runs["pooled"] = pooled
            result[mode] = compare_runs(runs, f"step_{steps[-1]}", boot)
            write_comparisons(
                tmp / K.ensemble_comparisons(mode),
                result[mode],
                title=f"checkpoint ensemble, {mode} mode",
                base=f"step_{steps[-1]}",
                runs=list(runs),
            )
    return result
