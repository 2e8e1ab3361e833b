"""Accuracy against the number of augmentations that vote, from one predictions file.

Level K keeps the votes of each task's un-augmented copy and of its first K augmented copies, in
the order the dataset builder generated them (= identifier order); no model is run. The costly
per-row work (crop, undoing augmentations, hashing) is done once; each level is one vote over a
subset of rows, so the whole sweep costs about one scoring pass plus a few vote steps.
With `draws` > 0 each level is also voted over that many random choices of K copies per task,
to show how much the choice of copies matters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from trm.errors import InputError
from trm.eval import schema as S
from trm.eval.arc.processed import ProcessedPredictions, process_predictions
from trm.eval.arc.voting import level_rows, random_aug_ranks, vote
from trm.eval.schema import SWEEP_KS
from trm.eval.stats import Bootstrap, proportion_ci
from trm.progress import progress as progress_bar


def fit_levels(
    levels: Sequence[int], pp: ProcessedPredictions, *, defaulted: bool, option: str = "--levels"
) -> tuple[list[int], str | None]:
    """The levels a dataset can tell apart: a level above its most augmented views per task
    would vote exactly the rows of that maximum (a row equal to a lower level's, reported as if
    more views had voted). Given levels above it are refused; the default levels are cut there,
    the maximum added as the last level, and a note says so. Returns (levels, note or None)."""
    available = int(pp.aug_rank.max(initial=0))
    too_many = [int(k) for k in levels if k > available]
    if not too_many:
        return list(levels), None
    if not defaulted:
        raise InputError(
            f"{option}: {too_many} exceed the {available} augmented view(s) per task of the "
            f"dataset (a level counts augmented views): give levels up to {available}"
        )
    kept = [int(k) for k in levels if k <= available]
    kept += [] if available in kept else [available]
    note = (
        f"levels {too_many} left out: the dataset has at most {available} augmented view(s) "
        f"per task (level {available} votes them all)"
    )
    return kept, note


def sweep_processed(
    pp: ProcessedPredictions,
    levels: Sequence[int],
    draws: int = 0,
    *,
    boot: Bootstrap,
    progress: bool = True,
) -> list[dict]:
    """One row per level: pass@1 and pass@2 with 95% intervals over tasks, effective votes.
    The bootstrap's seed also draws the random copies of `draws`."""
    rng = np.random.default_rng(boot.seed)
    # the same random orders for every level, so that levels of one draw are nested
    orders = [random_aug_ranks(pp.test_set, rng) for _ in range(draws)]
    rows = []
    for level in progress_bar(levels, desc="sweep", unit="level", disable=not progress):
        res = vote(pp, level_rows(pp, level), pass_ks=SWEEP_KS)
        row: dict = {S.SWEEP_LEVEL: int(level)}
        for i, k in enumerate(SWEEP_KS):
            lo, hi, method = proportion_ci(res.task_pass[:, i], boot)
            row[S.sweep_pass(k)] = res.metrics[S.arc_pass_key(k)]
            row.update(zip(S.ci_keys(S.sweep_pass(k)), (lo, hi), strict=True))
            row[S.ci_method_key(S.sweep_pass(k))] = method
        row[S.SWEEP_MEAN_VOTES] = float(res.n_votes.mean())
        row[S.SWEEP_MIN_VOTES] = int(res.n_votes.min())
        row[S.SWEEP_N_TEST_INPUTS] = int(len(res.n_votes))
        if draws:
            row[S.SWEEP_DRAWS] = draws
            per_draw = np.array(
                [
                    [
                        vote(pp, level_rows(pp, level, o), pass_ks=SWEEP_KS).metrics[
                            S.arc_pass_key(k)
                        ]
                        for k in SWEEP_KS
                    ]
                    for o in orders
                ]
            )
            for i, k in enumerate(SWEEP_KS):
                col = per_draw[:, i]
                row[S.sweep_draws(k, "mean")] = float(col.mean())
                row[S.sweep_draws(k, "std")] = float(col.std(ddof=1)) if draws > 1 else 0.0
                row[S.sweep_draws(k, "min")] = float(col.min())
                row[S.sweep_draws(k, "max")] = float(col.max())
        rows.append(row)
    return rows


def run_sweep(
    data_dir: str | os.PathLike,
    pred_path: str | os.PathLike,
    levels: Sequence[int],
    draws: int = 0,
    *,
    boot: Bootstrap,
    progress: bool = True,
    defaulted: bool = False,
) -> tuple[list[dict], str | None]:
    """The sweep's rows and the note of `fit_levels` (levels left out), or None."""
    pp = process_predictions(data_dir, pred_path, progress=progress)
    levels, note = fit_levels(levels, pp, defaulted=defaulted)
    return sweep_processed(pp, levels, draws=draws, boot=boot, progress=progress), note


def write_sweep_csv(rows: list[dict], path: str | os.PathLike) -> None:
    """Write the sweep table atomically (no partial CSV on failure)."""
    import csv

    from trm.utils import atomic_file

    with atomic_file(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
