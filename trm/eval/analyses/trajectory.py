"""Per-step trajectories and halting: ARC voting at every ACT step from one predictions file.

`trm predict --trajectory` stores, per example and step, the voting's (shape, 64-bit key) of
the inverse-augmented answer and the step's q_halt logit. Voting at step k replaces the final
answers' hashes and confidences by step k's and votes exactly as `trm score arc` does (matching
the correct answer by its hash instead of cell by cell), so the last step reproduces the normal
score. Halting: an example's first step with q_halt > 0 (the reference's halting rule); voting
on those steps' answers gives the accuracy had evaluation halted (compared with the last step,
paired over tasks: trm.eval.paired), and the steps not run are the compute halting would save.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from trm.data.format import read_metadata
from trm.errors import UserError
from trm.eval.analyses import keys as K
from trm.eval.arc.hashing import sigmoid64
from trm.eval.arc.processed import ProcessedPredictions, process_predictions
from trm.eval.arc.voting import VoteResult, mode_rows, vote
from trm.eval.paired import compare
from trm.eval.predictions import STEP_FIELDS, read_predictions
from trm.eval.schema import arc_pass_key
from trm.eval.scoring import MODES
from trm.eval.stats import Bootstrap, proportion_ci


@dataclasses.dataclass
class Trajectory:
    """The processed final predictions plus the per-step fields of the same (kept) rows."""

    pp: ProcessedPredictions
    shape: np.ndarray  # [N, S] int64
    key: np.ndarray  # [N, S] uint64
    q_logits: np.ndarray  # [N, S] float32

    @property
    def steps(self) -> int:
        return self.shape.shape[1]


def load_trajectory(
    data_dir: str | os.PathLike, pred_path: str | os.PathLike, progress: bool = False
) -> Trajectory:
    pred = read_predictions(pred_path, data_dir)
    if not all(k in pred.optional for k in STEP_FIELDS):
        raise UserError(
            f"{pred_path}: no per-step fields {list(STEP_FIELDS)} (predict with --trajectory)"
        )
    blank = read_metadata(data_dir, "test").blank_identifier_id
    keep = np.asarray(pred.puzzle_identifiers) != blank  # the rows scoring keeps
    pp = process_predictions(data_dir, pred_path, progress=progress)
    arrays = [np.asarray(pred.optional[k])[keep] for k in STEP_FIELDS]
    return Trajectory(pp, arrays[0].astype(np.int64), arrays[1], arrays[2])


def vote_answers(
    traj: Trajectory, step_of_row: np.ndarray, mode: str, pass_ks: tuple[int, ...] = K.SWEEP_KS
) -> VoteResult:
    """Vote with every row's answer taken at its own 0-based step `step_of_row` [N]."""
    rows = np.arange(len(step_of_row))
    key = traj.key[rows, step_of_row]
    pp = dataclasses.replace(
        traj.pp,
        pred_shape=traj.shape[rows, step_of_row],
        pred_keys=np.stack([key, np.zeros_like(key)], axis=1),
        q=sigmoid64(traj.q_logits[rows, step_of_row]),
    )
    return vote(pp, mode_rows(pp, mode), pass_ks=pass_ks, hash_only=True)


def vote_step(
    traj: Trajectory, step: int, mode: str, pass_ks: tuple[int, ...] = K.SWEEP_KS
) -> VoteResult:
    """Vote with every row's answer at 1-based ACT step `step`."""
    if not 1 <= step <= traj.steps:
        raise ValueError(f"step {step} outside 1..{traj.steps}")
    return vote_answers(traj, np.full(len(traj.shape), step - 1), mode, pass_ks)


def first_halt_step(q_logits: np.ndarray) -> np.ndarray:
    """1-based first step whose q_halt logit is > 0 (halt), the last step when none is."""
    says_halt = q_logits > 0
    first = np.argmax(says_halt, axis=1) + 1
    return np.where(says_halt.any(axis=1), first, q_logits.shape[1])


def _pass_with_ci(res: VoteResult, boot: Bootstrap) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, k in enumerate(res.pass_ks):
        key = K.per_input_pass(k)
        out[key] = float(res.metrics[f"ARC/pass@{k}"])
        lo, hi, method = proportion_ci(res.task_pass[:, i], boot)
        out.update(zip(K.ci_keys(key), (lo, hi), strict=True))
        out[K.ci_method_key(key)] = method
    return out


def analyse_trajectory(
    data_dir: str | os.PathLike,
    pred_path: str | os.PathLike,
    *,
    boot: Bootstrap,
    progress: bool = False,
    steps_out: list[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """(trajectory rows: pass@K per mode and step, halting summary, halted-vs-last comparisons:
    per mode and K, a = "halted", b = "last"); keys: trm.eval.analyses.keys, trm.eval.paired.
    `steps_out`: also append there every later step against the first, paired over tasks (per
    mode, step and K: a = "step k", b = "step 1")."""
    traj = load_trajectory(data_dir, pred_path, progress=progress)
    says_halt = traj.q_logits > 0
    rows: list[dict[str, Any]] = []
    last: dict[str, VoteResult] = {}
    for mode in MODES:
        first = None
        for step in range(1, traj.steps + 1):
            res = vote_step(traj, step, mode)
            first = first or res
            if steps_out is not None and step > 1:
                steps_out += _paired(res, first, f"step {step}", "step 1", mode, boot)
            row: dict[str, Any] = {K.TRAJ_MODE: mode, K.TRAJ_STEP: step}
            row.update(_pass_with_ci(res, boot))
            sel = mode_rows(traj.pp, mode)
            row[K.TRAJ_HALTED] = float(
                says_halt[sel if sel is not None else slice(None), step - 1].mean()
            )
            rows.append(row)
            last[mode] = res

    halt_step = first_halt_step(traj.q_logits)
    values, counts = np.unique(halt_step, return_counts=True)
    summary: dict[str, Any] = {
        K.HALT_STEPS: traj.steps,
        K.HALT_N_ROWS: int(len(halt_step)),
        K.HALT_NEVER: int((~says_halt.any(axis=1)).sum()),
        K.HALT_MEAN_STEP: float(halt_step.mean()),
        K.HALT_SAVED: float(1.0 - halt_step.mean() / traj.steps),
        K.HALT_HISTOGRAM: {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)},
    }
    comparisons = []
    for mode in MODES:
        halted = vote_answers(traj, halt_step - 1, mode)
        comparisons += _paired(halted, last[mode], "halted", "last", mode, boot)
    return rows, summary, comparisons


def _paired(
    a: VoteResult, b: VoteResult, a_name: str, b_name: str, mode: str, boot: Bootstrap
) -> list[dict[str, Any]]:
    """a vs b per K, paired over tasks (trm.eval.paired records, context: the mode)."""
    out = []
    for i, k in enumerate(a.pass_ks):
        sides = [dict(zip(r.task_names, r.task_pass[:, i], strict=True)) for r in (a, b)]
        out.append(
            compare(
                *sides,
                a_name=a_name,
                b_name=b_name,
                metric=arc_pass_key(k),
                unit="task",
                boot=boot,
                context={K.TRAJ_MODE: mode},
            )
        )
    return out


def write_trajectory(
    rows: list[dict[str, Any]],
    summary: dict[str, Any],
    comparisons: list[dict[str, Any]],
    out_dir: str | os.PathLike,
    steps: list[dict[str, Any]] | None = None,
) -> None:
    """trajectory.csv, halting.json, halted_vs_last.json (and, given `steps`,
    steps_vs_first.json) into `out_dir`, atomically."""
    import csv
    import json

    from trm.eval.paired import write_comparisons
    from trm.utils import atomic_dir

    with atomic_dir(Path(out_dir)) as tmp:
        with open(tmp / "trajectory.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=K.trajectory_columns(), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        with open(tmp / "halting.json", "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
        write_comparisons(tmp / K.HALTED_VS_LAST, comparisons, title="halted vs last ACT step")
        if steps:
            write_comparisons(tmp / K.STEPS_VS_FIRST, steps, title="ACT step k vs step 1")
