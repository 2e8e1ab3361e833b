"""`trm analyse sweep-grid`: a grid's runs (rows) x test-time votes (columns), one table.

The train- vs test-time augmentation question (issue 11 section 4): models trained at
different augmentation levels, each evaluated on the SAME augmented test split (a model trained
without augmentation through `trm predict --puzzle-ids-from`), voted at every sweep level K
(each task's original view plus its first K augmented views, as `trm sweep`). A cell is pass@2
over tasks with its 95 % interval (trm.eval.stats.proportion_ci, as the sweep); a row's
difference from the base row at the same K is paired over tasks (same test examples).
Writes JSON with the keys declared below (the report reads exactly these).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trm.errors import UserError
from trm.eval.schema import arc_pass_key, ci_keys
from trm.eval.stats import DEFAULT_N_BOOT, DEFAULT_SEED, paired_diff_ci, proportion_ci

# ---- sweep_grid.json: declared keys (writer: this module; reader: trm.report.grids) -----------
SG_GRID = "grid"
SG_METRIC = "metric"  # "ARC/pass@2"
SG_UNIT = "unit"  # what the intervals resample: "task"
SG_BASE = "base"  # the row the others are compared with
SG_LEVELS = "levels"  # the columns: augmented views voted besides the original, per task
SG_N_BOOT = "n_boot"
SG_ROWS = "rows"  # one per run, the base first
ROW_NAME = "name"
ROW_LABEL = "label"  # what the run is, e.g. "trained at num_aug 0 (dataset arc1-aug0)"
ROW_CELLS = "cells"  # one per level, in SG_LEVELS order
CELL_LEVEL = "level"
CELL_ACCURACY = "accuracy"  # fraction; interval in ci_keys(CELL_ACCURACY)
CELL_CI_METHOD = "ci_method"  # bootstrap or wilson (trm.eval.stats.proportion_ci)
CELL_N = "n"  # tasks
CELL_MEAN_VOTES = "mean_votes"  # predictions pooled per test input, mean over test inputs
CELL_DIFF = "diff_vs_base"  # accuracy minus the base row's at this level; null for the base
CELL_DIFF_P = "diff_vs_base_p_value"  # interval of CELL_DIFF in ci_keys(CELL_DIFF)
CELL_DIFF_CI_METHOD = "diff_vs_base_ci_method"  # bootstrap or wilson-mover (paired_diff_ci)
# -----------------------------------------------------------------------------------------------

K = 2  # pass@2, the paper's ARC figure


def _task_pass_at_levels(
    data_dir: str | os.PathLike, predictions: str | os.PathLike, levels: Sequence[int]
) -> tuple[list[str], list[np.ndarray], list[float], list[float]]:
    """Per level: (task names, per-task pass@2, the metric as scoring computes it, mean votes)."""
    from trm.eval.arc.processed import process_predictions
    from trm.eval.arc.voting import level_rows, vote

    pp = process_predictions(data_dir, predictions, progress=False)
    values, metrics, votes = [], [], []
    names: list[str] = []
    for level in levels:
        res = vote(pp, level_rows(pp, level), pass_ks=(K,))
        names = list(res.task_names)
        values.append(res.task_pass[:, 0].astype(np.float64))
        metrics.append(res.metrics[arc_pass_key(K)])
        votes.append(float(res.n_votes.mean()))
    return names, values, metrics, votes


def sweep_grid(
    data_dir: str | os.PathLike,
    runs: Mapping[str, str | os.PathLike],
    levels: Sequence[int],
    out: str | os.PathLike,
    *,
    grid: str = "",
    base: str | None = None,
    labels: Mapping[str, str] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """pass@2 of every run (predictions file on `data_dir`'s test split) at every level, with
    intervals, and each run minus `base` (default: the first) at equal level, paired over tasks.
    Writes `out` (JSON) atomically and returns its content."""
    from trm.eval.scoring import check_n_boot
    from trm.utils import write_json

    if not runs:
        raise UserError("sweep-grid needs at least one --run NAME=PREDICTIONS")
    if not levels:
        raise UserError("sweep-grid needs at least one level")
    check_n_boot(n_boot)
    names = list(runs)
    base = base or names[0]
    if base not in runs:
        raise UserError(f"--base {base!r} is not one of the runs ({', '.join(names)})")
    order = [base] + [n for n in names if n != base]
    per_run = {n: _task_pass_at_levels(data_dir, runs[n], levels) for n in order}
    base_tasks, base_values = per_run[base][0], per_run[base][1]
    rows = []
    for name in order:
        tasks, values, metrics, votes = per_run[name]
        if tasks != base_tasks:  # the same dataset gives the same tasks: a safety net
            raise UserError(f"{runs[name]} and {runs[base]} are scored on different task lists")
        cells = []
        for i, level in enumerate(levels):
            lo, hi, method = proportion_ci(values[i], n_boot=n_boot, seed=seed)
            cell: dict[str, Any] = {
                CELL_LEVEL: int(level),
                CELL_ACCURACY: metrics[i],
                CELL_CI_METHOD: method,
                CELL_N: int(len(values[i])),
                CELL_MEAN_VOTES: votes[i],
                CELL_DIFF: None,
                CELL_DIFF_P: None,
                CELL_DIFF_CI_METHOD: None,
            }
            cell.update(zip(ci_keys(CELL_ACCURACY), (lo, hi), strict=True))
            cell.update(dict.fromkeys(ci_keys(CELL_DIFF)))
            if name != base:
                d = paired_diff_ci(values[i], base_values[i], n_boot=n_boot, seed=seed)
                cell[CELL_DIFF], cell[CELL_DIFF_P] = d["diff"], d["p_value"]
                cell[CELL_DIFF_CI_METHOD] = d["ci_method"]
                cell.update(zip(ci_keys(CELL_DIFF), (d["ci_low"], d["ci_high"]), strict=True))
            cells.append(cell)
        rows.append({ROW_NAME: name, ROW_LABEL: (labels or {}).get(name, ""), ROW_CELLS: cells})
    result = {
        SG_GRID: grid,
        SG_METRIC: arc_pass_key(K),
        SG_UNIT: "task",
        SG_BASE: base,
        SG_LEVELS: [int(v) for v in levels],
        SG_N_BOOT: n_boot,
        SG_ROWS: rows,
    }
    write_json(out, result)
    return result
