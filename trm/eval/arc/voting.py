"""ARC voting over any subset of processed prediction rows, with the reference's semantics.

Identical answers for one test input are pooled; candidates are ranked by vote count, then by
the mean of sigmoid(q_halt) over their votes, then by first appearance (the reference's stable
sort). A test input passes @K when the correct output is among the top K candidates; pass@K is
averaged over the test inputs of a task, then over the tasks of test_puzzles.json (tasks
without any prediction count as 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trm.eval.arc.hashing import grid_keys
from trm.eval.arc.processed import ProcessedPredictions, answer_grid
from trm.eval.arc.testset import ArcTestSet, rank_within
from trm.eval.schema import PASS_KS, arc_pass_key

SUBMISSION_K = 2  # answers kept per test input (the ARC Prize allows two attempts)


@dataclass
class VoteResult:
    """Outcome of voting over a subset of prediction rows."""

    pass_ks: tuple[int, ...]
    task_names: list[str]
    input_task: np.ndarray  # [n_inputs]
    n_votes: np.ndarray  # [n_inputs] predictions pooled for each test input (effective votes)
    n_candidates: np.ndarray  # [n_inputs] distinct answers
    top_votes: np.ndarray  # [n_inputs] votes of the top answer (0 when none)
    label_rank: np.ndarray  # [n_inputs] 0-based rank of the correct answer, -1 when absent
    top_rows: (
        np.ndarray
    )  # [n_inputs, SUBMISSION_K] first prediction row of each top answer, -1 none
    passed: np.ndarray  # [n_inputs, len(pass_ks)] bool
    task_pass: np.ndarray  # [n_tasks, len(pass_ks)] fraction of a task's test inputs passed
    metrics: dict[str, float]


def vote(
    pp: ProcessedPredictions,
    rows: np.ndarray | None = None,
    pass_ks: Sequence[int] = PASS_KS,
    hash_only: bool = False,
) -> VoteResult:
    """Vote over the prediction rows `rows` (a boolean mask or indices; all rows by default).

    `hash_only`: the rows carry only (shape, first key) of their answers, no tokens (per-step
    trajectories): the correct answer is found by shape and that 64-bit key, not confirmed cell
    by cell, and `top_rows` point at rows whose tokens may not exist.
    """
    ts = pp.test_set
    n_inputs = len(ts.input_task)
    sel = np.arange(len(pp.input_index)) if rows is None else np.asarray(rows)
    if sel.dtype == bool:
        sel = np.flatnonzero(sel)
    sel = np.sort(sel[pp.input_index[sel] >= 0])  # file order decides ties and float sums
    ti = pp.input_index[sel]
    shp = pp.pred_shape[sel]
    k1, k2 = pp.pred_keys[sel, 0], pp.pred_keys[sel, 1]

    order = np.lexsort((k2, k1, shp, ti))  # stable: rows stay in file order inside a group
    ti_s, shp_s, k1_s, k2_s = ti[order], shp[order], k1[order], k2[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (
        (ti_s[1:] != ti_s[:-1])
        | (shp_s[1:] != shp_s[:-1])
        | (k1_s[1:] != k1_s[:-1])
        | (k2_s[1:] != k2_s[:-1])
    )
    gid = np.empty(len(order), dtype=np.int64)
    gid[order] = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    rep_row = sel[order[starts]]  # first (earliest) row of each answer
    g_input = ti_s[starts]
    n_groups = len(starts)

    counts = np.bincount(gid, minlength=n_groups)
    # bincount adds the weights one by one in row order: the very float sums of the reference
    qsum = np.bincount(gid, weights=pp.q[sel], minlength=n_groups)
    mean_q = qsum / np.maximum(counts, 1)
    # rank inside each test input: votes desc, mean confidence desc, first appearance asc
    rank_order = np.lexsort((rep_row, -mean_q, -counts, g_input))
    gi_sorted = g_input[rank_order]
    rank = np.empty(n_groups, dtype=np.int64)
    rank[rank_order] = np.arange(n_groups) - np.searchsorted(gi_sorted, gi_sorted, side="left")

    alias = ts.input_alias
    n_votes = np.bincount(ti, minlength=n_inputs)[alias]
    n_candidates = np.bincount(g_input, minlength=n_inputs)[alias]
    top_rows = np.full((n_inputs, SUBMISSION_K), -1, dtype=np.int64)
    top_votes = np.zeros(n_inputs, dtype=np.int64)
    for k in range(SUBMISSION_K):
        at_k = rank == k
        top_rows[g_input[at_k], k] = rep_row[at_k]
        if k == 0:
            top_votes[g_input[at_k]] = counts[at_k]
    top_rows, top_votes = top_rows[alias], top_votes[alias]
    label_rank = _label_ranks(pp, rep_row, g_input, rank, hash_only)

    ks = np.asarray(pass_ks, dtype=np.int64)
    passed = (label_rank[:, None] >= 0) & (label_rank[:, None] < ks[None, :])
    n_tasks = len(ts.task_names)
    n_ok = np.zeros((n_tasks, len(ks)), dtype=np.int64)
    np.add.at(n_ok, ts.input_task, passed.astype(np.int64))
    task_pass = n_ok / ts.task_n_inputs[:, None]
    metrics: dict[str, float] = {}
    for i, k in enumerate(ks.tolist()):
        total = 0.0
        for v in task_pass[:, i].tolist():  # sequential, in task order: the reference's floats
            total += v
        metrics[arc_pass_key(k)] = total / n_tasks
    return VoteResult(
        pass_ks=tuple(ks.tolist()),
        task_names=ts.task_names,
        input_task=ts.input_task,
        n_votes=n_votes,
        n_candidates=n_candidates,
        top_votes=top_votes,
        label_rank=label_rank,
        top_rows=top_rows,
        passed=passed,
        task_pass=task_pass,
        metrics=metrics,
    )


def _label_ranks(
    pp: ProcessedPredictions,
    rep_row: np.ndarray,
    g_input: np.ndarray,
    rank: np.ndarray,
    hash_only: bool = False,
) -> np.ndarray:
    """Rank of each test input's correct answer among its pool's candidates, -1 when absent.

    Candidates are found by shape and hashes, then confirmed cell by cell.
    """
    ts = pp.test_set
    label_rank = np.full(len(ts.input_task), -1, dtype=np.int64)
    by_input = np.argsort(g_input, kind="stable")
    bounds = np.searchsorted(g_input[by_input], np.arange(len(ts.input_task) + 1))
    shapes, keys = pp.pred_shape[rep_row], pp.pred_keys[rep_row]
    for j, label in enumerate(ts.label_grids):
        pool = int(ts.input_alias[j])
        groups = by_input[bounds[pool] : bounds[pool + 1]]
        shape, k1, k2 = grid_keys(label)
        same = (shapes[groups] == shape) & (keys[groups, 0] == k1)
        hit = groups[same if hash_only else same & (keys[groups, 1] == k2)]
        for g in hit.tolist():
            if hash_only or np.array_equal(answer_grid(pp, int(rep_row[g])), label):
                label_rank[j] = rank[g]
    return label_rank


# ----------------------------------------------------------------------------------------------
# Row selections: paper mode, single mode, sweep levels


def mode_rows(pp: ProcessedPredictions, mode: str) -> np.ndarray | None:
    """Rows that vote in `mode`: 'paper' = all augmentations, 'single' = un-augmented copies."""
    if mode == "paper":
        return None
    if mode == "single":
        return np.flatnonzero(pp.aug_rank == 0)
    raise ValueError(f"unknown scoring mode {mode!r} (expected 'paper' or 'single')")


def level_rows(
    pp: ProcessedPredictions, level: int, draw_rank: np.ndarray | None = None
) -> np.ndarray:
    """Rows of the un-augmented copy and the first `level` augmented copies of each task.

    `draw_rank` ([num_identifiers], 1-based among a task's augmented copies) replaces the
    builder's order with another one (see `random_aug_ranks`).
    """
    rank = pp.aug_rank if draw_rank is None else draw_rank[pp.puzzle_identifiers]
    return np.flatnonzero((pp.aug_rank == 0) | (rank <= level))


def random_aug_ranks(ts: ArcTestSet, rng: np.random.Generator) -> np.ndarray:
    """A random order of each task's augmented copies: [num_identifiers] 1-based ranks (0 else)."""
    ids = np.flatnonzero(ts.id_aug_rank > 0)
    out = np.zeros(len(ts.id_aug_rank), dtype=np.int64)
    out[ids] = rank_within(ts.id_task[ids], rng.random(ids.size))
    return out
