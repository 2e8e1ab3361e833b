"""Score LLM predictions with TRM's ARC metric: pass@K per test input, averaged over a task's
test inputs, then over tasks, with percentile bootstrap intervals over tasks (trm.stats).

Attempts: the parsed answers of a test input's views (the original prompt and the augmented
ones, each mapped back to the original frame) are pooled like TRM's voting: candidates are
ranked by number of views that gave them, then by mean token log-probability (TRM uses the
halting confidence), then by view order. attempt_1/attempt_2 are the top two; with a single
candidate attempt_2 repeats it. A test input with no parseable answer gets [[0]] for both
attempts in submission.json (so the list stays aligned with the task's test inputs) and is
wrong. Per-input results are written with the columns of TRM's per_input.csv so a paired
difference over the same tasks reads both the same way.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from trm.errors import UserError
from trm.llm.prepare import read_jsonl, read_manifest
from trm.stats import bootstrap_ci
from trm.utils import atomic_dir, read_json

PASS_KS = (1, 2)
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


def score(
    data_dir: str | os.PathLike,
    predictions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
    cost_files: list[str | os.PathLike] = (),
) -> dict:
    if n_boot < 100:
        raise UserError(f"--n-boot must be at least 100, got {n_boot}")
    man = read_manifest(data_dir)
    truth = read_json(Path(data_dir) / "test_tasks.json", "LLM test tasks")
    preds = read_jsonl(predictions, "LLM predictions")
    by_input: dict[tuple[str, int], list[dict]] = {}
    for n, p in enumerate(preds, 1):
        try:
            key = (str(p["task"]), int(p["test_index"]))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{predictions}: line {n}: field task/test_index missing") from e
        if key[0] not in truth:
            raise UserError(f"{predictions}: line {n}: task {key[0]!r} is not in {data_dir}")
        by_input.setdefault(key, []).append(p)

    submission: dict[str, list] = {}
    rows, task_pass = [], {}
    for task, t in truth.items():
        submission[task] = []
        passed = {k: 0 for k in PASS_KS}
        for j, pair in enumerate(t["test"]):
            cands = rank_candidates(by_input.get((task, j), []))
            grids = [c["grid"] for c in cands[:2]] or [EMPTY]
            grids += grids[:1] * (2 - len(grids))
            submission[task].append({"attempt_1": grids[0], "attempt_2": grids[1]})
            rank = next((r for r, c in enumerate(cands) if c["grid"] == pair["output"]), -1)
            row = {
                "task": task,
                "test_index": j,
                "n_votes": sum(c["votes"] for c in cands),
                "n_candidates": len(cands),
                "top_votes": cands[0]["votes"] if cands else 0,
                "label_rank": rank,
            }
            for k in PASS_KS:
                row[f"pass@{k}"] = int(0 <= rank < k)
                passed[k] += row[f"pass@{k}"]
            rows.append(row)
        task_pass[task] = {f"pass@{k}": passed[k] / len(t["test"]) for k in PASS_KS}

    n_views = len(preds)
    metrics: dict = {}
    for k in PASS_KS:
        vals = [task_pass[t][f"pass@{k}"] for t in truth]
        metrics[f"ARC/pass@{k}"] = sum(vals) / len(vals)
        metrics[f"ARC/pass@{k}_ci95"] = list(bootstrap_ci(vals, n_boot=n_boot, seed=seed))
    test_split = man["splits"]["test"]
    metrics |= {
        "n_tasks": len(truth),
        "n_test_inputs": len(rows),
        "n_predictions": n_views,
        "n_unparseable": sum(p.get("grid") is None for p in preds),
        "n_hit_token_limit": sum(not p.get("stopped", True) for p in preds),
        "n_prompts_skipped_overlong": test_split["skipped"],
        "n_prompts_truncated_overlong": test_split["truncated"],
        "n_test_inputs_without_answer": sum(r["n_candidates"] == 0 for r in rows),
        "attempts": "top-2 answers voted over the original and augmented views",
        "cost": _cost(cost_files),
    }
    with atomic_dir(out) as tmp:
        with open(tmp / "metrics.json", "w") as f:
            json.dump(metrics, f, indent=1)
        with open(tmp / "submission.json", "w") as f:
            json.dump(submission, f)
        with open(tmp / "per_input.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        with open(tmp / "per_task.json", "w") as f:
            json.dump(task_pass, f, indent=1)
    return metrics


def _cost(files: list[str | os.PathLike]) -> dict:
    """Parameters, compute and tokens, from the train and predict summaries."""
    cost: dict = {}
    for path in files:
        s = read_json(path, "LLM run summary")
        for key in ("parameters", "trainable_parameters", "tokens_generated", "device"):
            if key in s:
                cost.setdefault(key, s[key])
        for key in ("train_seconds", "predict_seconds", "gpu_hours", "cpu_seconds"):
            if key in s:
                cost[key] = round(cost.get(key, 0) + s[key], 4)
    return cost
