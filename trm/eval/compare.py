"""Runs compared over the same units: what `trm compare runs|sweep` compute, each difference by
trm.eval.paired.compare (the one comparison).

`compare_runs`: output folders of `trm score <kind>` (or `trm llm score`), one record per
(run other than the base, metric): ARC per task (pass@1 and pass@2 from per_input.csv, a task's
rate averaged over its test inputs), Sudoku and Maze per test example (exact accuracy from
per_example.csv). `compare_sweep`: predictions files on one ARC dataset, voted at every sweep
level (each task's original view plus its first K augmented views, as `trm sweep`), pass@2 per
task of each run against the base at the same level.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trm.errors import InputError, InputNotFoundError
from trm.eval import schema as S
from trm.eval.paired import compare
from trm.eval.stats import Bootstrap
from trm.kinds import KINDS, PuzzleKind
from trm.utils import read_json

SWEEP_K = 2  # the sweep compares pass@2, the paper's ARC figure
VOTED = next(k for k in KINDS.values() if k.voted)  # the kind whose augmented views vote (ARC)


@dataclass(frozen=True)
class UnitScores:
    """One run's scores per unit: metric -> unit id -> score in [0, 1]."""

    kind: PuzzleKind
    metrics: dict[str, dict[str, float]]


def task_pass_rates(path: str | os.PathLike) -> dict[str, dict[int, float]]:
    """Per task: the fraction of its test inputs passed @K, K in SWEEP_KS (from per_input.csv)."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"per-input results not found: {path} (run `trm score arc`)")
    sums: dict[str, dict[int, float]] = {}
    counts: dict[str, int] = {}
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            try:
                t = row[S.PER_INPUT_TASK]
                vals = {k: float(row[S.per_input_pass(k)]) for k in S.SWEEP_KS}
            except (KeyError, TypeError, ValueError) as e:
                raise InputError(f"{path}: line {i + 2}: missing or bad field ({e})") from e
            acc = sums.setdefault(t, dict.fromkeys(S.SWEEP_KS, 0.0))
            for k, v in vals.items():
                acc[k] += v
            counts[t] = counts.get(t, 0) + 1
    return {t: {k: v / counts[t] for k, v in s.items()} for t, s in sums.items()}


def _exact_per_example(path: Path) -> dict[str, float]:
    row_col, exact_col = S.GRID_PER_EXAMPLE[0], S.GRID_PER_EXAMPLE[1]
    if not path.exists():
        raise InputNotFoundError(f"per-example results not found: {path} (run `trm score`)")
    with open(path, newline="") as f:
        out = {}
        for i, row in enumerate(csv.DictReader(f)):
            try:
                out[row[row_col]] = float(int(row[exact_col]))
            except (KeyError, TypeError, ValueError) as e:
                raise InputError(f"{path}: line {i + 2}: missing or bad field ({e})") from e
    return out


def score_kind(score_dir: str | os.PathLike) -> PuzzleKind:
    """The puzzle kind a `trm score` folder scored: the kind whose headline metric its
    metrics.json holds."""
    path = Path(score_dir) / "metrics.json"
    if not path.exists():
        raise InputNotFoundError(f"{path}: not found (a folder written by `trm score <kind>`)")
    metrics = read_json(path, "metrics")
    for k in KINDS.values():
        if isinstance(metrics, dict) and k.headline in metrics:
            return k
    heads = ", ".join(k.headline for k in KINDS.values())
    raise InputError(f"{path}: holds none of {heads}: not written by `trm score`")


def unit_scores(score_dir: str | os.PathLike) -> UnitScores:
    """The per-unit scores behind a `trm score` folder's headline metrics."""
    folder = Path(score_dir)
    kind = score_kind(folder)
    per_unit = folder / kind.per_unit_file
    if kind.voted:
        rates = task_pass_rates(per_unit)
        metrics = {S.arc_pass_key(k): {t: r[k] for t, r in rates.items()} for k in S.SWEEP_KS}
        return UnitScores(kind, metrics)
    return UnitScores(kind, {kind.headline: _exact_per_example(per_unit)})


def base_and_others(names: Sequence[str], base: str | None) -> tuple[str, list[str]]:
    """The base run (default: the first) and the others, in order; at least two runs."""
    if len(names) < 2:
        raise InputError(f"--run: a comparison needs at least two runs, got {list(names)}")
    base = base or names[0]
    if base not in names:
        raise InputError(f"--base {base!r} is not one of the runs ({', '.join(names)})")
    return base, [n for n in names if n != base]


def compare_runs(
    runs: Mapping[str, str | os.PathLike], base: str | None, boot: Bootstrap
) -> list[dict[str, Any]]:
    """Each run minus `base` (default: the first) per headline metric, paired over units."""
    base, others = base_and_others(list(runs), base)
    scores = {name: unit_scores(runs[name]) for name in runs}
    b = scores[base]
    records = []
    for name in others:
        a = scores[name]
        if a.kind != b.kind:
            raise InputError(
                f"--run {name}={runs[name]} scored {a.kind.title}, {base}={runs[base]} "
                f"{b.kind.title}: not comparable"
            )
        for metric in b.metrics:
            records.append(
                compare(
                    a.metrics[metric],
                    b.metrics[metric],
                    a_name=name,
                    b_name=base,
                    metric=metric,
                    unit=b.kind.unit,
                    boot=boot,
                )
            )
    return records


@dataclass(frozen=True)
class _Level:
    task_pass: dict[str, float]  # task -> pass@2
    mean_votes: float  # views pooled per test input


def _sweep_levels(
    data_dir: str | os.PathLike,
    predictions: str | os.PathLike,
    levels: Sequence[int],
    progress: bool,
) -> list[_Level]:
    from trm.eval.arc.processed import process_predictions
    from trm.eval.arc.voting import level_rows, vote
    from trm.eval.sweep import fit_levels

    pp = process_predictions(data_dir, predictions, progress=progress)
    fit_levels(levels, pp, defaulted=False)  # a level beyond the views would repeat a row
    out = []
    for level in levels:
        res = vote(pp, level_rows(pp, level), pass_ks=(SWEEP_K,))
        tasks = dict(zip(res.task_names, res.task_pass[:, 0].tolist(), strict=True))
        out.append(_Level(tasks, float(res.n_votes.mean())))
    return out


def compare_sweep(
    data_dir: str | os.PathLike,
    runs: Mapping[str, str | os.PathLike],
    levels: Sequence[int],
    base: str | None,
    boot: Bootstrap,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Per level K and run other than `base`: pass@2 over tasks, the run minus the base at the
    same K, paired over tasks; context {level, a_mean_votes, b_mean_votes} (views pooled per
    test input)."""
    base, others = base_and_others(list(runs), base)
    voted = {
        name: _sweep_levels(data_dir, runs[name], levels, progress) for name in [base, *others]
    }
    records = []
    for i, level in enumerate(levels):
        b = voted[base][i]
        for name in others:
            a = voted[name][i]
            context = {"level": int(level), "a_mean_votes": a.mean_votes}
            records.append(
                compare(
                    a.task_pass,
                    b.task_pass,
                    a_name=name,
                    b_name=base,
                    metric=S.arc_pass_key(SWEEP_K),
                    unit=VOTED.unit,
                    boot=boot,
                    context=context | {"b_mean_votes": b.mean_votes},
                )
            )
    return records
