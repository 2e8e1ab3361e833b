"""Scoring: compute the metrics of a predictions file and write them (keys from trm.eval.schema).

`score_arc` (augmentation voting, pass@K), `score_grid` (Sudoku/Maze accuracy) and
`compare_modes` (paper minus single mode, paired bootstrap over tasks). Each writes into a
temporary folder or file beside its output and renames it when complete, so a failure leaves
no partial output.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trm.errors import UserError
from trm.eval import schema as S
from trm.eval.stats import DEFAULT_N_BOOT, DEFAULT_SEED
from trm.utils import atomic_dir, write_json

MODES: tuple[str, ...] = ("paper", "single")
MIN_N_BOOT = 100


def check_n_boot(n_boot: int) -> None:
    if n_boot < MIN_N_BOOT:
        raise UserError(f"--n-boot must be at least {MIN_N_BOOT}, got {n_boot}")


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
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
) -> dict[str, Any]:
    """Reference ARC voting in `mode`; writes metrics.json, submission.json, per_example.jsonl,
    per_input.csv and votes.json into `out_dir`. Returns the metrics. Several predictions files
    (e.g. of several checkpoints) vote pooled, in the order given."""
    from trm.eval import arc

    check_n_boot(n_boot)
    pp = arc.process_pooled(data_dir, pred_path, progress=progress)
    res = arc.vote(pp, arc.mode_rows(pp, mode))
    metrics = arc.metrics_with_intervals(res, n_boot=n_boot, seed=seed)
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
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Exact and cell accuracy with 95 % intervals over examples (bootstrap, or Wilson where the
    bootstrap degenerates: trm.eval.stats.proportion_ci); writes metrics.json
    and per_example.csv into `out_dir`. Returns the metrics."""
    from trm.eval.grid import grid_accuracy
    from trm.eval.stats import proportion_ci

    check_n_boot(n_boot)
    acc = grid_accuracy(data_dir, pred_path)
    if len(acc.exact) == 0:
        raise UserError(f"{data_dir}: the test split has no examples")
    metrics: dict[str, Any] = {}
    for key, values in (
        (S.grid_exact_key(task_name), acc.exact),
        (S.grid_cell_key(task_name), acc.cell_fraction),
    ):
        metrics[key] = float(values.mean())
        lo, hi, method = proportion_ci(values, n_boot=n_boot, seed=seed)
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


def task_pass_rates(path: str | os.PathLike) -> dict[str, dict[int, float]]:
    """Per task: the fraction of its test inputs passed @K, K in SWEEP_KS (from per_input.csv)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"per-input results not found: {path} (run `trm score arc` first)")
    sums: dict[str, dict[int, float]] = {}
    counts: dict[str, int] = {}
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            try:
                t = row[S.PER_INPUT_TASK]
                vals = {k: float(row[S.per_input_pass(k)]) for k in S.SWEEP_KS}
            except (KeyError, TypeError, ValueError) as e:
                raise UserError(f"{path}: line {i + 2}: missing or bad field ({e})") from e
            acc = sums.setdefault(t, dict.fromkeys(S.SWEEP_KS, 0.0))
            for k, v in vals.items():
                acc[k] += v
            counts[t] = counts.get(t, 0) + 1
    return {t: {k: v / counts[t] for k, v in s.items()} for t, s in sums.items()}


def compare_modes(
    paper_dir: str | os.PathLike,
    single_dir: str | os.PathLike,
    out: str | os.PathLike,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Paper minus single mode, pass@1 and pass@2, paired bootstrap over tasks; writes `out`."""
    check_n_boot(n_boot)
    paper = task_pass_rates(Path(paper_dir) / "per_input.csv")
    single = task_pass_rates(Path(single_dir) / "per_input.csv")
    if list(paper) != list(single):
        raise UserError(
            f"{paper_dir} and {single_dir} score different task lists: not the same dataset"
        )
    result: dict[str, Any] = {S.COMPARE_N_TASKS: len(paper), S.COMPARE_N_BOOT: n_boot}
    result |= paired_pass_diffs(paper, single, S.compare_diff_key, S.compare_p_key, n_boot, seed)
    write_json(out, result)
    return result


def paired_pass_diffs(
    a: dict[str, dict[int, float]],
    b: dict[str, dict[int, float]],
    diff_key: Callable[[int], str],
    p_key: Callable[[int], str],
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Per K in SWEEP_KS, a minus b over the tasks of `a` (task_pass_rates of the same tasks),
    trm.eval.stats.paired_diff_ci over tasks: {diff_key(K): mean, its ci_keys: interval, its
    ci_method_key: the interval's method, p_key(K): p}."""
    from trm.eval.stats import paired_diff_ci

    out: dict[str, Any] = {}
    for k in S.SWEEP_KS:
        d = paired_diff_ci([a[t][k] for t in a], [b[t][k] for t in a], n_boot, seed=seed)
        out[diff_key(k)] = d["diff"]
        out.update(zip(S.ci_keys(diff_key(k)), (d["ci_low"], d["ci_high"]), strict=True))
        out[S.ci_method_key(diff_key(k))] = d["ci_method"]
        out[p_key(k)] = d["p_value"]
    return out
