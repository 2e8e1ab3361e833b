"""What `trm score arc` writes from a vote: submission.json (ARC Prize format), per-example
records, the per-input table, metrics with bootstrap intervals; keys from trm.eval.schema."""

from __future__ import annotations

import numpy as np

from trm.eval import schema as S
from trm.eval.arc.hashing import grid_hash
from trm.eval.arc.processed import ProcessedPredictions, answer_grid
from trm.eval.arc.voting import SUBMISSION_K, VoteResult
from trm.eval.stats import Bootstrap, proportion_ci


def example_record(
    name: str, input_hash: str, label_hash: str, top1: str | None, n_votes: int
) -> dict:
    """One line of per_example.jsonl (keys: schema.ARC_PER_EXAMPLE)."""
    values = (
        name,
        input_hash,
        label_hash,
        top1,
        top1 is not None and top1 == label_hash,
        int(n_votes),
    )
    return dict(zip(S.ARC_PER_EXAMPLE, values, strict=True))


def submission(pp: ProcessedPredictions, res: VoteResult) -> dict[str, list]:
    """ARC Prize submission: task -> [{"attempt_1": grid, "attempt_2": grid} per test input].

    As the reference: attempt_2 repeats attempt_1 when there is a single candidate, and a test
    input without any prediction is left out of its task's list.
    """
    out: dict[str, list] = {name: [] for name in res.task_names}
    for j, t in enumerate(res.input_task.tolist()):
        if res.top_rows[j, 0] < 0:
            continue
        grids = [answer_grid(pp, int(r)).tolist() for r in res.top_rows[j] if r >= 0]
        while len(grids) < SUBMISSION_K:
            grids.append(grids[0])
        out[res.task_names[t]].append({f"attempt_{i + 1}": g for i, g in enumerate(grids)})
    return out


def per_example_records(pp: ProcessedPredictions, res: VoteResult) -> list[dict]:
    """One record per test input: top answer's hash, whether it is right, number of votes."""
    ts = pp.test_set
    records = []
    for j, t in enumerate(res.input_task.tolist()):
        top = int(res.top_rows[j, 0])
        top_hash = grid_hash(answer_grid(pp, top)) if top >= 0 else None
        records.append(
            example_record(
                res.task_names[t],
                ts.input_hash_hex[j],
                ts.label_hash_hex[j],
                top_hash,
                int(res.n_votes[j]),
            )
        )
    return records


def per_input_table(res: VoteResult) -> list[dict]:
    """Per test input: votes, candidates, rank of the correct answer, pass@K (for CIs, compare)."""
    out = []
    for j, t in enumerate(res.input_task.tolist()):
        values = (
            res.task_names[t],
            int(j - np.searchsorted(res.input_task, t)),
            int(res.n_votes[j]),
            int(res.n_candidates[j]),
            int(res.top_votes[j]),
            int(res.label_rank[j]),
        )
        row: dict = dict(zip(S.PER_INPUT, values, strict=True))
        for i, k in enumerate(res.pass_ks):
            row[S.per_input_pass(k)] = int(res.passed[j, i])
        out.append(row)
    return out


# ----------------------------------------------------------------------------------------------
# Reports over a vote: metrics with bootstrap intervals, effective votes


def effective_votes_summary(res: VoteResult) -> dict:
    """Distribution of the number of predictions pooled per test input."""
    v = res.n_votes
    values, counts = np.unique(v, return_counts=True)
    return {
        "mean": float(v.mean()) if v.size else 0.0,
        "min": int(v.min()) if v.size else 0,
        "median": float(np.median(v)) if v.size else 0.0,
        "max": int(v.max()) if v.size else 0,
        "n_test_inputs": int(v.size),
        "n_below_max": int((v < v.max()).sum()) if v.size else 0,
        "histogram": {str(int(a)): int(b) for a, b in zip(values, counts, strict=True)},
    }


def metrics_with_intervals(res: VoteResult, boot: Bootstrap) -> dict:
    """The reference metrics (contract keys first), then 95% intervals over tasks (bootstrap, or
    Wilson where the bootstrap degenerates) with their method, and the counts behind them."""
    out: dict = dict(res.metrics)
    for i, k in enumerate(res.pass_ks):
        lo, hi, method = proportion_ci(res.task_pass[:, i], boot)
        out.update(zip(S.ci_keys(S.arc_pass_key(k)), (lo, hi), strict=True))
        out[S.ci_method_key(S.arc_pass_key(k))] = method
    out[S.ARC_N_TASKS] = len(res.task_names)
    out[S.ARC_N_TEST_INPUTS] = int(len(res.input_task))
    return out
