"""The report's "Accuracy over training" section: the folder of `trm analyse checkpoints`
(checkpoints.csv, summary.json, best_vs_last.json, raw_vs_ema.json) as a table, a figure of
accuracy against the training step with 95 % bands, the last checkpoint minus the best earlier
one (and raw minus EMA weights) rendered by the one comparisons table builder, and a caveat when
the last is worse beyond noise. Reads the declared keys (trm.eval.analyses.keys) and fails
loudly on a missing one; computes no statistics."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from trm.eval.analyses import keys as K
from trm.eval.analyses.checkpoints import headline_record
from trm.eval.schema import CI_METHOD_SHORT
from trm.report import fmt
from trm.report.comparisons import comparison_table, read
from trm.report.figures import percent_range, plt, to_data_uri
from trm.report.inputs import (
    ExperimentInputs,
    ReportInputError,
    _read_object,
    must_exist,
    read_declared_csv,
    require,
)

WRITER = "trm analyse checkpoints"
KEY = "analysis_checkpoints"  # the spec's analyses key: the command's --out folder
Chain = Callable[[Sequence[str]], list[dict[str, Any]]]

# How the page names what a row scored (K.CKPT_WEIGHT_KINDS).
WEIGHTS_TEXT = {
    "ema": "EMA (the step_N file: the training's exponential moving average of the weights)",
    "raw": "raw (the weights as trained, not averaged)",
    "unknown": "as saved (the run's all_config.yaml does not say whether they are averaged)",
}


def read_table(path: str | os.PathLike) -> list[dict[str, Any]]:
    """checkpoints.csv: rows with typed values, every declared column present."""
    types: dict[str, Callable[[str], Any]] = {K.CKPT_STEP: int, K.CKPT_N: int}
    types |= dict.fromkeys((K.CKPT_VALUE, *K.ci_keys(K.CKPT_VALUE)), float)
    return read_declared_csv(path, K.checkpoints_columns(), WRITER, types)


def short(metric: str) -> str:
    """ "ARC/pass@2" -> "pass@2"; "Sudoku/exact_accuracy" -> "exact accuracy"."""
    return metric.split("/", 1)[-1].replace("_", " ")


WEIGHTS_SHORT = {"ema": "EMA", "raw": "raw", "unknown": "saved"}


def weights_label(weights: str) -> str:
    return f"{WEIGHTS_SHORT.get(weights, weights)} weights"


def series_label(mode: str, metric: str, weights: str | None, voted: bool) -> str:
    """ "paper mode pass@2 (EMA weights)"; "exact accuracy" (weights None: all alike)."""
    head = f"{mode} mode {short(metric)}" if voted else short(metric)
    return f"{head} ({weights_label(weights)})" if weights else head


def curves(rows: Sequence[Mapping[str, Any]], voted: bool) -> list[dict[str, Any]]:
    """One series per (mode, metric, weights): points by training step, with 95 % bounds. A
    series equal to an earlier one point for point says so in its label (the lines coincide)."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    several = len({r[K.CKPT_WEIGHTS] for r in rows}) > 1  # else the title names the weights
    for r in rows:
        key = (r[K.CKPT_MODE], r[K.CKPT_METRIC], r[K.CKPT_WEIGHTS])
        label = series_label(key[0], key[1], key[2] if several else None, voted)
        c = out.setdefault(key, {"label": label, "metric": key[1], "mode": key[0]})
        lo, hi = K.ci_keys(K.CKPT_VALUE)
        for name, col in (("x", K.CKPT_STEP), ("y", K.CKPT_VALUE), ("lo", lo), ("hi", hi)):
            c.setdefault(name, []).append(r[col])
    series = list(out.values())
    for i, c in enumerate(series):
        same = next((o for o in series[:i] if (o["x"], o["y"]) == (c["x"], c["y"])), None)
        c["hidden_by"] = same["label"] if same else None
    return series


def hidden(series: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """[{shown: label, under: [labels of the series that equal it point for point]}]."""
    out: dict[str, list[str]] = {}
    for c in series:
        if c["hidden_by"]:
            out.setdefault(c["hidden_by"], []).append(c["label"])
    return [{"shown": k, "under": v} for k, v in out.items()]


def figure(series: Sequence[Mapping[str, Any]], title: str, ylabel: str) -> str:
    """Accuracy against the training step: a line per series (dashed: pass@1), 95 % bands; a
    series of one point (raw weights at one step) as a marker with its interval as error bar."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    colours: dict[str, Any] = {}
    for c in series:
        y = [100 * v for v in c["y"]]
        err = [[a - 100 * lo for a, lo in zip(y, c["lo"], strict=True)]]
        err.append([100 * hi - a for a, hi in zip(y, c["hi"], strict=True)])
        label = c["label"] + (f": same as {c['hidden_by']}" if c["hidden_by"] else "")
        colour = colours.get(c["mode"])
        style = "--" if c["metric"].endswith("pass@1") else "-"
        if len(c["x"]) == 1:
            handle = ax.errorbar(
                c["x"], y, yerr=err, fmt="D", color=colour, capsize=4, label=label, ms=6
            )
            colours.setdefault(c["mode"], handle.lines[0].get_color())
            continue
        (line,) = ax.plot(c["x"], y, style, marker="o", color=colour, label=label)
        colours.setdefault(c["mode"], line.get_color())
        band = [100 * v for v in c["lo"]], [100 * v for v in c["hi"]]
        ax.fill_between(c["x"], *band, alpha=0.12, color=line.get_color())
    ax.set_xlabel("training step (optimizer steps)")
    ax.set_xticks(sorted({x for c in series for x in c["x"]}))
    ax.set_ylabel(ylabel)
    ax.set_ylim(*percent_range([v for c in series for v in c["hi"]]))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), handlelength=3)
    return to_data_uri(fig)


def table(rows: Sequence[Mapping[str, Any]], voted: bool) -> dict[str, Any]:
    """One row per (step, weights); per (mode, metric) the value and its interval."""
    columns = list(dict.fromkeys((r[K.CKPT_MODE], r[K.CKPT_METRIC]) for r in rows))
    by: dict[tuple[int, str], dict[tuple[str, str], Mapping[str, Any]]] = {}
    for r in rows:
        by.setdefault((r[K.CKPT_STEP], r[K.CKPT_WEIGHTS]), {})[r[K.CKPT_MODE], r[K.CKPT_METRIC]] = r
    lo, hi = K.ci_keys(K.CKPT_VALUE)
    out = []
    for (step, weights), cells in by.items():
        first = next(iter(cells.values()))
        out.append(
            {
                "step": step,
                "weights": weights,
                "n": first[K.CKPT_N],
                "cells": [
                    (
                        fmt.pct(c[K.CKPT_VALUE]),
                        fmt.interval(
                            c[lo], c[hi], CI_METHOD_SHORT[c[K.ci_method_key(K.CKPT_VALUE)]]
                        ),
                    )
                    if (c := cells.get(col))
                    else ("–", "")
                    for col in columns
                ],
            }
        )
    titles = [f"{m} mode {short(metric)}" if voted else short(metric) for m, metric in columns]
    return {"columns": titles, "rows": out, "unit": rows[0][K.CKPT_UNIT]}


def caveat(record: Mapping[str, Any], mode: str, voted: bool) -> str:
    """The last worse than the best earlier checkpoint beyond noise, with the numbers."""
    where = f" in {mode} mode" if voted else ""
    method = CI_METHOD_SHORT[record["diff_ci_method"]]
    return (
        f"The last checkpoint ({record['a']}) is worse than {record['b']} on "
        f"{record['metric']}{where} beyond noise: last − best = {fmt.pts(record['diff'])}, 95 % "
        f"interval {fmt.interval(record['diff_ci_low'], record['diff_ci_high'], method, True)}, "
        f"n = {record['n']} {record['unit']}s. The best checkpoint was picked on these same "
        f"{record['unit']}s, which favours it: read the gap as an upper estimate, and check an "
        "earlier checkpoint on other tasks before using it instead of the last."
    )


def checkpoints_section(exp: ExperimentInputs, chain: Chain) -> dict[str, Any] | None:
    """Context of reports/templates/checkpoints.html.j2 (None: the analysis did not run)."""
    if KEY not in exp.analyses:
        return None
    folder = must_exist(exp.analyses[KEY], WRITER)
    path = folder / K.CKPT_SUMMARY
    summary = _read_object(must_exist(path, WRITER), "checkpoints summary")

    def get(key: str) -> Any:
        return require(summary, key, path, WRITER)

    voted = exp.kind.voted
    rows = read_table(folder / K.CKPT_TABLE)
    best_by, raw = get(K.CKPT_S_BEST_BY), get(K.CKPT_S_RAW)
    n, unit = rows[0][K.CKPT_N], rows[0][K.CKPT_UNIT]
    ylabel = f"{exp.kind.title} pass@K (%)" if voted else f"{exp.kind.title} exact accuracy (%)"
    compared = comparison_table(folder / K.CKPT_COMPARISONS, WRITER) if get(K.CKPT_S_BEST) else None
    record = None
    if get(K.CKPT_S_LAST_WORSE):
        record = headline_record(read(folder / K.CKPT_COMPARISONS, WRITER)["comparisons"], best_by)
        if record is None:
            raise ReportInputError(
                f"{folder / K.CKPT_COMPARISONS}: no {best_by} record, yet {path} says "
                f"{K.CKPT_S_LAST_WORSE} ({WRITER})"
            )
    raw_file = raw.get("compared") if isinstance(raw, dict) else None
    series = curves(rows, voted)
    kinds = list(dict.fromkeys(r[K.CKPT_WEIGHTS] for r in rows))
    which = f" ({weights_label(kinds[0])})" if len(kinds) == 1 else ""
    return {
        "uri": figure(
            series, f"{exp.name}: accuracy over training{which}, n = {n} {unit}s", ylabel
        ),
        "points": any(len(c["x"]) == 1 for c in series),
        "hidden": hidden(series),
        "table": table(rows, voted),
        "weights": [WEIGHTS_TEXT.get(w, w) for w in dict.fromkeys(r[K.CKPT_WEIGHTS] for r in rows)],
        "raw": {"scored": raw.get("scored"), "reason": raw.get("reason")}
        if raw.get("requested")
        else None,
        "last": get(K.CKPT_S_LAST),
        "best": get(K.CKPT_S_BEST),
        "best_by": f"{best_by['metric']}" + (f" in {best_by['mode']} mode" if voted else ""),
        "comparison": compared,
        "raw_comparison": comparison_table(folder / raw_file, WRITER) if raw_file else None,
        "caveat": caveat(record, best_by["mode"], voted) if record else None,
        "unit": unit,
        "chain": chain([str(folder)]),
    }
