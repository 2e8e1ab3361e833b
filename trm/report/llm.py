"""The report's TRM-vs-LLM section: the LLM baseline's scores, cost and failure counts, and the
paired difference TRM minus LLM over the same tasks.

Read through the keys `trm llm score` declares (trm.llm.schema, with the interval layout of
trm.eval.schema); a missing key is an error naming the file and the key. TRM vs the LLM is a
comparisons file of `trm compare runs --run trm=.. llm=.. --base llm`, rendered by the one
table builder (trm.report.comparisons). Nothing is computed here beyond formatting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.eval import schema as S
from trm.llm import schema as L
from trm.provenance import lineage
from trm.report import fmt
from trm.report.comparisons import comparison_table
from trm.report.inputs import ReportInputError, must_exist, require
from trm.utils import read_json

SCORE_WRITER = "trm llm score"
COMPARE_WRITER = "trm compare runs"


@dataclass
class LlmInputs:
    """The files behind one LLM experiment's section (paths relative to the workflow folder)."""

    name: str
    settings: dict[str, Any]
    metrics_json: str  # runs/<exp>/llm/score/metrics.json
    # TRM experiment -> comparisons file of `trm compare runs --run trm=.. llm=.. --base llm`
    comparisons: dict[str, str] = field(default_factory=dict)

    def paths(self) -> list[str]:
        """Every file this section reads (inputs of `trm report`)."""
        return [self.metrics_json, *self.comparisons.values()]


def _object(path: str | os.PathLike, writer: str) -> dict[str, Any]:
    data = read_json(must_exist(path, writer), writer)
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object (written by {writer})")
    return data


def _with_interval(
    data: Mapping[str, Any], key: str, path: str | os.PathLike, writer: str
) -> tuple[float, float, float, str]:
    """(value, ci_low, ci_high, the interval's method as the report names it)."""
    value, lo, hi = (float(require(data, k, path, writer)) for k in (key, *S.ci_keys(key)))
    method = str(require(data, S.ci_method_key(key), path, writer))
    if method not in S.CI_METHOD_SHORT:
        raise ReportInputError(f"{path}: '{S.ci_method_key(key)}' is {method!r}: unknown method")
    return value, lo, hi, S.CI_METHOD_SHORT[method]


def read_llm_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """Headline pass@K with intervals, the failure counts and the cost of one LLM run."""
    data = _object(path, SCORE_WRITER)
    return {
        "headline": {k: _with_interval(data, k, path, SCORE_WRITER) for k in L.HEADLINE},
        "counts": {k: int(require(data, k, path, SCORE_WRITER)) for k in L.COUNTS},
        "cost": dict(require(data, L.COST, path, SCORE_WRITER)),
        "attempts": str(require(data, L.ATTEMPTS, path, SCORE_WRITER)),
    }


# ---- formatting ---------------------------------------------------------------------------


def _pct(value: float, lo: float, hi: float, method: str) -> dict[str, str]:
    return {"value": fmt.pct(value), "ci": fmt.interval(lo, hi, method)}


def _count(n: Any) -> str:
    return f"{int(n):,}".replace(",", " ")


def cost_rows(cost: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The cost object in a researcher's units; entries the run did not report are left out."""
    rows = []
    if L.Cost.PARAMETERS in cost:
        rows.append(("parameters (base model)", _count(cost[L.Cost.PARAMETERS])))
    if L.Cost.TRAINABLE_PARAMETERS in cost:
        rows.append(("trainable parameters (LoRA)", _count(cost[L.Cost.TRAINABLE_PARAMETERS])))
    if L.Cost.DEVICE in cost:
        rows.append(("device", str(cost[L.Cost.DEVICE])))
    if L.Cost.GPU_HOURS in cost:
        rows.append(("compute, train + predict", f"{float(cost[L.Cost.GPU_HOURS]):.3g} GPU-hours"))
    if L.Cost.CPU_SECONDS in cost:
        cpu = float(cost[L.Cost.CPU_SECONDS])
        rows.append(("compute, train + predict", f"{cpu:.3g} s wall clock on CPU"))
    for key, label in ((L.Cost.TRAIN_SECONDS, "train"), (L.Cost.PREDICT_SECONDS, "predict")):
        if key in cost:
            rows.append((f"wall time, {label}", f"{float(cost[key]):.1f} s"))
    if L.Cost.TOKENS_GENERATED in cost:
        rows.append(("tokens generated", _count(cost[L.Cost.TOKENS_GENERATED])))
    return rows


COUNT_LABELS: dict[str, str] = {
    L.N_TASKS: "tasks scored",
    L.N_TEST_INPUTS: "test inputs scored",
    L.N_PREDICTIONS: "prompts decoded (original and augmented views)",
    L.N_UNPARSEABLE: "unparseable answers (scored wrong)",
    L.N_HIT_TOKEN_LIMIT: "answers stopped by the token limit (over-long)",
    L.N_SKIPPED_OVERLONG: "test prompts skipped: longer than the context",
    L.N_TRUNCATED_OVERLONG: "test prompts shortened by dropping whole demonstrations",
    L.N_WITHOUT_ANSWER: "test inputs without any parseable answer",
}


def _records(bundle: Mapping[str, Any] | None, targets: Sequence[str]) -> list[str]:
    if not bundle:
        return []
    return [r["record_path"] for r in lineage(bundle, [Path(t).as_posix() for t in targets])]


def llm_section(inp: LlmInputs, bundle: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the llm.html.j2 template shows for one LLM experiment."""
    m = read_llm_metrics(inp.metrics_json)
    rows = [{"metric": key, "llm": _pct(*m["headline"][key])} for key in L.HEADLINE]
    compared = [
        comparison_table(path, COMPARE_WRITER) | {"trm": trm_exp}
        for trm_exp, path in sorted(inp.comparisons.items())
    ]
    caveats = []
    if inp.settings.get("smoke"):
        caveats.append(
            "Smoke run: a tiny random model trained for a few steps on a CPU. Its numbers test "
            "the pipeline; they say nothing about LLMs on ARC."
        )
    n_bad = m["counts"][L.N_UNPARSEABLE] + m["counts"][L.N_HIT_TOKEN_LIMIT]
    if n_bad:
        caveats.append(
            f"{n_bad} decoded answer(s) were unparseable or stopped by the token limit; they "
            "count as wrong answers."
        )
    return {
        "name": inp.name,
        "settings": inp.settings,
        "n_tasks": m["counts"][L.N_TASKS],
        "rows": rows,
        "comparisons": compared,
        "counts": [(COUNT_LABELS[k], _count(v)) for k, v in m["counts"].items()],
        "cost": cost_rows(m["cost"]),
        "attempts": m["attempts"],
        "caveats": caveats,
        "records": _records(bundle, inp.paths()),
    }


def llm_sections(
    inputs: Sequence[LlmInputs], bundle: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    return [llm_section(i, bundle) for i in inputs]
