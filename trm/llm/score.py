"""Score LLM predictions with TRM's ARC metric: pass@K per test input, averaged over a task's
test inputs, then over tasks, with percentile bootstrap intervals over tasks. The ranked answers
become a trm.eval.arc VoteResult, so TRM's own writers compute the metrics, the intervals and
per_input.csv (`metrics_with_intervals`, `per_input_table`).

Attempts: the parsed answers of a test input's views (the original prompt and the augmented
ones, each mapped back to the original frame) are pooled like TRM's voting: candidates are
ranked by number of views that gave them, then by mean token log-probability (TRM uses the
halting confidence), then by view order. attempt_1/attempt_2 are the top two; with a single
candidate attempt_2 repeats it. A test input with no parseable answer gets [[0]] for both
attempts in submission.json (so the list stays aligned with the task's test inputs) and is
wrong (TRM's submission leaves such an input out instead).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trm.errors import UserError
from trm.eval import schema as S
from trm.eval.arc import SUBMISSION_K, VoteResult, metrics_with_intervals, per_input_table
from trm.eval.scoring import write_csv
from trm.eval.stats import Bootstrap
from trm.llm import schema as L
from trm.llm.inputs import read_predictions, read_summary, read_test_tasks
from trm.llm.prepare import read_jsonl, read_manifest
from trm.utils import atomic_dir, write_json

if TYPE_CHECKING:
    from trm.cli.llm import LlmScoreSettings

EMPTY = [[0]]


def rank_candidates(preds: list[dict]) -> list[dict]:
    """Distinct parsed grids of one test input: votes, mean log-prob, first view; best first."""
    groups: dict[str, dict] = {}
    for order, p in enumerate(preds):
        if p.get("grid") is None:
            continue
        key = json.dumps(p["grid"])
        g = groups.setdefault(key, {"grid": p["grid"], "votes": 0, "lp": 0.0, "first": order})
        g["votes"] += 1
        g["lp"] += float(p.get("mean_logprob", 0.0))
    cands = list(groups.values())
    for g in cands:
        g["mean_logprob"] = g.pop("lp") / g["votes"]
    cands.sort(key=lambda g: (-g["votes"], -g["mean_logprob"], g["first"]))
    return cands


def score(s: LlmScoreSettings) -> dict:
    """Vote each test input's views, write metrics.json (trm.llm.schema keys), submission.json,
    per_input.csv (TRM's columns) and per_task.json into `s.out`; return the metrics."""
    data_dir, predictions = s.data, s.predictions
    man = read_manifest(data_dir)
    truth = read_test_tasks(data_dir)
    preds = read_predictions(predictions, man)
    by_input: dict[tuple[str, int], list[dict]] = {}
    for n, p in enumerate(preds, 1):
        try:
            key = (str(p["task"]), int(p["test_index"]))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{predictions}: line {n}: field task/test_index missing") from e
        if key[0] not in truth:
            raise UserError(f"{predictions}: line {n}: task {key[0]!r} is not in {data_dir}")
        by_input.setdefault(key, []).append(p)
    _check_views(preds, predictions, Path(data_dir))

    submission: dict[str, list] = {}
    task_names = list(truth)
    input_task, ranks, cand_counts, votes, top_votes = [], [], [], [], []
    for t, task in enumerate(task_names):
        submission[task] = []
        for j, pair in enumerate(truth[task]["test"]):
            cands = rank_candidates(by_input.get((task, j), []))
            grids = [c["grid"] for c in cands[:SUBMISSION_K]] or [EMPTY]
            grids += grids[:1] * (SUBMISSION_K - len(grids))
            submission[task].append({f"attempt_{i + 1}": g for i, g in enumerate(grids)})
            input_task.append(t)
            ranks.append(next((r for r, c in enumerate(cands) if c["grid"] == pair["output"]), -1))
            cand_counts.append(len(cands))
            votes.append(sum(c["votes"] for c in cands))
            top_votes.append(cands[0]["votes"] if cands else 0)
    res = _vote_result(task_names, input_task, ranks, cand_counts, votes, top_votes)

    # TRM's scorer from here on: the same metrics, intervals and per-input table.
    metrics = metrics_with_intervals(res, Bootstrap(n_boot=s.n_boot, seed=s.seed))
    test_split = man["splits"]["test"]
    metrics |= {
        L.N_PREDICTIONS: len(preds),
        L.N_UNPARSEABLE: sum(p.get("grid") is None for p in preds),
        L.N_HIT_TOKEN_LIMIT: sum(not p.get("stopped", True) for p in preds),
        L.N_SKIPPED_OVERLONG: test_split["skipped"],
        L.N_TRUNCATED_OVERLONG: test_split["truncated"],
        L.N_WITHOUT_ANSWER: int((res.n_candidates == 0).sum()),
        L.ATTEMPTS: "top-2 answers voted over the original and augmented views",
        L.COST: _cost(s.cost),
    }
    task_pass = {
        task: {S.per_input_pass(k): float(res.task_pass[t, i]) for i, k in enumerate(L.PASS_KS)}
        for t, task in enumerate(task_names)
    }
    with atomic_dir(s.out) as tmp:
        write_json(tmp / "metrics.json", metrics)
        with open(tmp / "submission.json", "w") as f:
            json.dump(submission, f)
        write_csv(tmp / "per_input.csv", per_input_table(res))
        write_json(tmp / "per_task.json", task_pass)
    return metrics


def view_of(record: dict) -> str | None:
    """The view a record answers: its `name`, else the view part of its `id` (`<view>#<i>`)."""
    if isinstance(record.get("name"), str):
        return record["name"]
    rid = record.get("id")
    return rid.rsplit("#", 1)[0] if isinstance(rid, str) and "#" in rid else None


def _check_views(preds: list[dict], path: str | os.PathLike, data_dir: Path) -> None:
    """Each prediction answers one view of DATA/test.jsonl, and each view votes once: a record
    repeated (or a view the dataset does not hold) would count as votes no view gave."""
    views = {
        (str(r.get("task")), r.get("test_index"), view_of(r))
        for r in read_jsonl(data_dir / "test.jsonl", "LLM test records")
    }
    seen: dict[tuple[str, int, str], int] = {}
    for n, p in enumerate(preds, 1):
        view = view_of(p)
        if view is None:
            raise UserError(
                f"{path}: line {n}: field name (the view that answered) missing: each view "
                "votes once, so every record must say which"
            )
        key = (str(p["task"]), int(p["test_index"]), view)
        if key not in views:
            raise UserError(
                f"{path}: line {n}: view {view!r} of task {key[0]} test input {key[1]} is not a "
                f"test record of {data_dir / 'test.jsonl'}"
            )
        if key in seen:
            raise UserError(
                f"{path}: line {n}: view {view!r} of task {key[0]} test input {key[1]} repeats "
                f"line {seen[key]}: each view votes once"
            )
        seen[key] = n


def _vote_result(
    task_names: list[str],
    input_task: list[int],
    label_rank: list[int],
    n_candidates: list[int],
    n_votes: list[int],
    top_votes: list[int],
) -> VoteResult:
    """The ranked answers as TRM's VoteResult, so its metric and table writers apply as they are:
    pass@K per test input, averaged over a task's test inputs, then over tasks."""
    rank = np.asarray(label_rank, dtype=np.int64)
    ks = np.asarray(L.PASS_KS)
    passed = (rank[:, None] >= 0) & (rank[:, None] < ks[None, :])
    tasks = np.asarray(input_task, dtype=np.int64)
    per_task = np.bincount(tasks, minlength=len(task_names))
    task_pass = (
        np.stack(
            [
                np.bincount(tasks, weights=passed[:, i], minlength=len(task_names))
                for i in range(len(ks))
            ],
            axis=1,
        )
        / np.maximum(per_task, 1)[:, None]
    )
    return VoteResult(
        pass_ks=L.PASS_KS,
        task_names=task_names,
        input_task=tasks,
        n_votes=np.asarray(n_votes, dtype=np.int64),
        n_candidates=np.asarray(n_candidates, dtype=np.int64),
        top_votes=np.asarray(top_votes, dtype=np.int64),
        label_rank=rank,
        top_rows=np.full((len(rank), SUBMISSION_K), -1, dtype=np.int64),  # no prediction rows
        passed=passed,
        task_pass=task_pass,
        metrics={S.arc_pass_key(k): float(task_pass[:, i].mean()) for i, k in enumerate(ks)},
    )


def _cost(files: list[str | os.PathLike]) -> dict:
    """Parameters, compute and tokens, from the train and predict summaries."""
    cost: dict = {}
    for path in files:
        s = read_summary(path, L.Cost.SUMMED)
        for key in L.Cost.FIRST_SEEN:
            if key in s:
                cost.setdefault(key, s[key])
        for key in L.Cost.SUMMED:
            if key in s:
                cost[key] = round(cost.get(key, 0) + s[key], 4)
    return cost
