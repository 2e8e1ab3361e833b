"""Scoring: compute the metrics of a predictions file and write them (keys from trm.eval.schema).

`score_arc` (augmentation voting, pass@K) and `score_grid` (Sudoku/Maze accuracy). Each writes
into a temporary folder beside its output and renames it when complete, so a failure leaves no
partial output. Comparisons of score folders are trm.eval.compare (`trm compare runs`).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from trm.errors import UserError
from trm.eval import schema as S
from trm.eval.stats import Bootstrap
from trm.utils import atomic_dir

MODES: tuple[str, ...] = ("paper", "single")


def _write_json(path: Path, obj: object, indent: int | None = None) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows as CSV, columns in the first row's key order (per_input.csv of both scorers)."""
    with open(path, "w", newline="") as f:
        if not rows:
            return
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def score_arc(
    data_dir: str | os.PathLike,
    pred_path: str | os.PathLike | list[str | os.PathLike],
    out_dir: str | os.PathLike,
    mode: str = "paper",
    *,
    boot: Bootstrap,
    progress: bool = True,
) -> dict[str, Any]:
    """Reference ARC voting in `mode`; writes metrics.json, submission.json, per_example.jsonl,
    per_input.csv and votes.json into `out_dir`. Returns the metrics. Several predictions files
    (e.g. of several checkpoints) vote pooled, in the order given."""
    from trm.eval import arc

    pp = arc.process_pooled(data_dir, pred_path, progress=progress)
    res = arc.vote(pp, arc.mode_rows(pp, mode))
    metrics = arc.metrics_with_intervals(res, boot)
    metrics[S.ARC_MODE] = mode
    votes = arc.effective_votes_summary(res)
    metrics[S.ARC_VOTES_MEAN] = votes["mean"]
    metrics[S.ARC_VOTES_MIN] = votes["min"]
    with atomic_dir(out_dir) as tmp:
        _write_json(tmp / "metrics.json", metrics, indent=1)
        with open(tmp / "submission.json", "w") as f:
            json.dump(arc.submission(pp, res), f)
        with open(tmp / "per_example.jsonl", "w") as f:
            for rec in arc.per_example_records(pp, res):
                f.write(json.dumps(rec) + "\n")
        write_csv(tmp / "per_input.csv", arc.per_input_table(res))
        _write_json(tmp / "votes.json", votes, indent=1)
    return metrics


def score_grid(
    data_dir: str | os.PathLike,
    pred_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    task_name: str,
    *,
    boot: Bootstrap,
) -> dict[str, Any]:
    """Exact and cell accuracy with 95 % intervals over examples (bootstrap, or Wilson where the
    bootstrap degenerates: trm.eval.stats.proportion_ci); writes metrics.json
    and per_example.csv into `out_dir`. Returns the metrics."""
    from trm.eval.grid import grid_accuracy
    from trm.eval.stats import proportion_ci

    acc = grid_accuracy(data_dir, pred_path)
    if len(acc.exact) == 0:
        raise UserError(f"{data_dir}: the test split has no examples")
    metrics: dict[str, Any] = {}
    for key, values in (
        (S.grid_exact_key(task_name), acc.exact),
        (S.grid_cell_key(task_name), acc.cell_fraction),
    ):
        metrics[key] = float(values.mean())
        lo, hi, method = proportion_ci(values, boot)
        metrics.update(zip(S.ci_keys(key), (lo, hi), strict=True))
        metrics[S.ci_method_key(key)] = method
    metrics[S.GRID_N_EXAMPLES] = int(len(acc.exact))
    metrics[S.GRID_N_CELLS] = int(acc.cells_scored.sum())
    with atomic_dir(out_dir) as tmp:
        _write_json(tmp / "metrics.json", metrics, indent=1)
        with open(tmp / "per_example.csv", "w") as f:
            f.write(",".join(S.GRID_PER_EXAMPLE) + "\n")
            for i, (e, r, s) in enumerate(
                zip(acc.exact, acc.cells_right, acc.cells_scored, strict=True)
            ):
                f.write(f"{i},{int(e)},{int(r)},{int(s)}\n")
    return metrics
