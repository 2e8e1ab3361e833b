"""THE table builder of every comparison the report shows: paper vs single mode, a grid's
variants, the sweep grid, the puzzle-ID ablation, checkpoint ensembles, test-time adaptation,
TRM vs the LLM and halted vs last ACT step. Each is a comparisons file (trm.eval.paired) read
with `read_comparisons`; the view below is rendered by the `comparison_table` macro of
reports/templates/comparisons.html.j2. Formatting only: every number comes from the file.

Rows: the base run first ("baseline" in its difference cells), then every other run in the
order of the file. Records whose context differs (a sweep level, a mode) form groups, each
with its base row. Columns: the run, optional columns about the run (its label, the paper's
figure, a side's context such as views pooled), n, then per metric the value and its 95 %
interval, the difference from the base with its interval, and p.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from trm.errors import InputError
from trm.eval.paired import read_comparisons
from trm.eval.schema import CI_METHOD_SHORT
from trm.report import fmt
from trm.report.inputs import ReportInputError, must_exist

SIDES = ("a_", "b_")  # context keys of one side (trm.eval.paired)
# How a context key is named in a table (others are shown as they are).
CONTEXT_TITLES: dict[str, str] = {"level": "K", "mode": "mode", "mean_votes": "views pooled"}


def read(path: str | os.PathLike, writer: str) -> dict[str, Any]:
    """A comparisons file, or a ReportInputError naming the file (and the record and key)."""
    must_exist(path, writer)
    try:
        return read_comparisons(path)
    except InputError as e:
        raise ReportInputError(f"{e} (written by {writer})") from e


def _title(key: str) -> str:
    return CONTEXT_TITLES.get(key, key.replace("_", " "))


def _text(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _interval(rec: Mapping[str, Any], prefix: str, signed: bool = False) -> str:
    method = CI_METHOD_SHORT[rec[f"{prefix}ci_method"]]
    return fmt.interval(rec[f"{prefix}ci_low"], rec[f"{prefix}ci_high"], method, signed)


def _side_cell(rec: Mapping[str, Any], side: str) -> dict[str, str]:
    return {"value": fmt.pct(rec[f"{side}_value"]), "interval": _interval(rec, f"{side}_")}


BASE_CELL = {"diff": "baseline", "diff_interval": "", "p": ""}
NO_CELL = {"value": "–", "interval": "", "diff": "–", "diff_interval": "", "p": ""}


def _diff_cell(rec: Mapping[str, Any]) -> dict[str, str]:
    return {
        "diff": fmt.pts(rec["diff"]),
        "diff_interval": _interval(rec, "diff_", signed=True),
        "p": f"{rec['p_value']:.3g}",
    }


def comparison_table(
    path: str | os.PathLike,
    writer: str,
    *,
    labels_title: str | None = None,
    paper: bool = False,
    links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The template's view of one comparisons file (see the module's docstring).

    `labels_title`: show the file's run labels in a column of that title; `paper`: show the
    file's paper figures (percent) in a column "paper"; `links`: run name -> an anchor on the page.
    """
    doc = read(path, writer)
    records = doc["comparisons"]
    if not records:
        raise ReportInputError(f"{path}: no comparisons (written by {writer})")
    metrics = list(dict.fromkeys(r["metric"] for r in records))
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        key = tuple((k, v) for k, v in r["context"].items() if not k.startswith(SIDES))
        groups.setdefault(key, []).append(r)
    side_keys = list(dict.fromkeys(k[2:] for r in records for k in r["context"] if k[:2] in SIDES))
    columns = []
    if labels_title is not None:
        columns.append({"title": labels_title, "cls": ""})
    if paper:
        columns.append({"title": "paper", "cls": "paper"})
    columns += [{"title": _title(k), "cls": "num"} for k in side_keys]
    labels, figures = doc.get("labels") or {}, doc.get("paper") or {}

    def side(name: str, rec: Mapping[str, Any], s: str) -> list[str]:
        out = [labels.get(name, "")] if labels_title is not None else []
        if paper:
            out.append(f"{figures[name]:.1f} %" if name in figures else "–")
        return out + [_text(rec["context"].get(f"{s}_{k}", "")) for k in side_keys]

    views = []
    for key, recs in groups.items():
        bases = {r["b"] for r in recs}
        if len(bases) != 1:
            raise ReportInputError(f"{path}: one group compares with several bases {sorted(bases)}")
        base = recs[0]["b"]
        by_run: dict[str, dict[str, Mapping[str, Any]]] = {}
        for r in recs:
            by_run.setdefault(r["a"], {})[r["metric"]] = r
        first = {r["metric"]: r for r in reversed(recs)}  # the base's values, per metric
        rows = [
            {
                "name": base,
                "is_base": True,
                "side": side(base, recs[0], "b"),
                "n": recs[0]["n"],
                "cells": [
                    _side_cell(first[m], "b") | BASE_CELL if m in first else NO_CELL
                    for m in metrics
                ],
            }
        ]
        for name, per_metric in by_run.items():
            any_rec = next(iter(per_metric.values()))
            cells = [
                _side_cell(per_metric[m], "a") | _diff_cell(per_metric[m])
                if m in per_metric
                else NO_CELL
                for m in metrics
            ]
            rows.append(
                {
                    "name": name,
                    "is_base": False,
                    "side": side(name, any_rec, "a"),
                    "n": any_rec["n"],
                    "cells": cells,
                }
            )
        for row in rows:
            row["anchor"] = (links or {}).get(row["name"])
        label = ", ".join(f"{_title(k)} = {v}" for k, v in key)
        views.append({"label": label, "rows": rows})
    used = {r[k] for r in records for k in ("a_ci_method", "b_ci_method", "diff_ci_method")}
    return {
        "title": doc.get("title") or "",
        "base": records[0]["b"],
        "unit": records[0]["unit"],
        "n": records[0]["n"],
        "metrics": metrics,
        "columns": columns,
        "width": 2 + len(columns) + 5 * len(metrics),
        "groups": views,
        "methods": sorted(CI_METHOD_SHORT[m] for m in used),
        "n_boot": records[0]["n_boot"],
    }


def differences(path: str | os.PathLike, writer: str, a: str) -> dict[str, str]:
    """Per metric, run `a` minus the base as the report writes it ("+12.5 pt")."""
    return {
        r["metric"]: fmt.pts(r["diff"]) for r in read(path, writer)["comparisons"] if r["a"] == a
    }
