"""The files `trm llm score` reads, bounded and checked before they are used (trm.limits):
test_tasks.json (the answers), the predictions of `trm llm predict` (JSON lines, at most one
full line per test record of the dataset's manifest) and the run summaries of --cost."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from trm.errors import UserError
from trm.limits import LLM_MAX_JSON_BYTES, LLM_MAX_LINE_BYTES, LLM_MAX_RECORDS
from trm.llm.prepare import read_jsonl
from trm.llm.prompt import MAX_GRID, is_grid
from trm.utils import read_json

GRID = f"a grid (list of equal rows of colours 0..9, at most {MAX_GRID}x{MAX_GRID})"


def read_test_tasks(data_dir: str | os.PathLike) -> dict[str, Any]:
    """test_tasks.json: task id -> {"test": [{"input": grid, "output": grid}, ...]}."""
    path = Path(data_dir) / "test_tasks.json"
    truth = read_json(path, "LLM test tasks", max_bytes=LLM_MAX_JSON_BYTES)
    if not isinstance(truth, dict):
        raise UserError(f"{path}: expected a JSON object of tasks")
    for task, entry in truth.items():
        tests = entry.get("test") if isinstance(entry, dict) else None
        if not isinstance(tests, list) or not tests:
            raise UserError(f"{path}: task {task!r}: expected {{'test': [{{'output': grid}}]}}")
        for j, pair in enumerate(tests):
            if not isinstance(pair, dict) or not is_grid(pair.get("output")):
                raise UserError(f"{path}: task {task!r}: test {j}: output is not {GRID}")
    return truth


def predictions_bytes_limit(manifest: dict[str, Any]) -> int:
    """The largest predictions file a dataset implies: one full line (LLM_MAX_LINE_BYTES) per
    test record its manifest counts (splits.test.records), else per the general record limit."""
    splits = manifest.get("splits")
    test = splits.get("test") if isinstance(splits, dict) else None
    n = test.get("records") if isinstance(test, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= LLM_MAX_RECORDS:
        n = LLM_MAX_RECORDS
    return max(n, 1) * LLM_MAX_LINE_BYTES


def read_predictions(path: str | os.PathLike, manifest: dict[str, Any]) -> list[dict]:
    """The records of `trm llm predict`, no larger than the dataset implies, each with a grid
    (or null), a finite mean_logprob and a true/false `stopped` where present."""
    preds = read_jsonl(path, "LLM predictions", max_bytes=predictions_bytes_limit(manifest))
    for n, p in enumerate(preds, 1):
        where = f"{path}: line {n}: field"
        if p.get("grid") is not None and not is_grid(p["grid"]):
            raise UserError(f"{where} grid: expected null or {GRID}")
        lp = p.get("mean_logprob", 0.0)
        if isinstance(lp, bool) or not isinstance(lp, int | float) or not math.isfinite(lp):
            raise UserError(f"{where} mean_logprob: expected a finite number, got {lp!r}")
        if not isinstance(p.get("stopped", True), bool):
            raise UserError(f"{where} stopped: expected true or false, got {p['stopped']!r}")
    return preds


def read_summary(path: str | os.PathLike, numbers: tuple[str, ...]) -> dict[str, Any]:
    """A train/predict run summary (JSON object) whose `numbers` keys are finite numbers."""
    s = read_json(path, "LLM run summary", max_bytes=LLM_MAX_JSON_BYTES)
    if not isinstance(s, dict):
        raise UserError(f"{path}: expected a JSON object")
    for key in numbers:
        v = s.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise UserError(f"{path}: field {key}: expected a finite number, got {v!r}")
    return s
