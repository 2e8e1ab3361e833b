"""The report's analysis sections (issue 11): per-step trajectory and halting, puzzle-ID
ablation, checkpoint ensemble, test-time embedding fitting (trm adapt). Reads the analyses' files
through their declared keys (trm.eval.analyses.keys) and fails loudly on a missing key; every
comparison (halted vs last step, identifiers, checkpoints, fitted vs blank) is a comparisons
file rendered by trm.report.comparisons. Computes no statistics."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trm.eval.analyses import keys as K
from trm.eval.schema import CI_METHOD_SHORT
from trm.eval.scoring import MODES
from trm.report import fmt
from trm.report.comparisons import comparison_table
from trm.report.figures import coincide_text, coinciding, plot_curve, plt, to_data_uri
from trm.report.inputs import (
    ExperimentInputs,
    ReportInputError,
    _read_object,
    must_exist,
    read_declared_csv,
    require,
)
from trm.train import adapt_schema as AS

Chain = Callable[[Sequence[str]], list[dict[str, Any]]]


def _ci(lo: float, hi: float, signed: bool = False, method: str | None = None) -> str:
    """[lo, hi] in percent (points when signed), with the interval's method when known."""
    return fmt.interval(lo, hi, CI_METHOD_SHORT.get(method, method) if method else None, signed)


def read_trajectory(path: str | os.PathLike) -> list[dict[str, Any]]:
    """trajectory.csv of `trm analyse trajectory`: rows with float values, declared columns."""
    columns = K.trajectory_columns()
    types: dict[str, Callable[[str], Any]] = {
        c: float for c in columns if c != K.TRAJ_MODE and not c.endswith("_ci_method")
    }
    return read_declared_csv(path, columns, "trm analyse trajectory", types | {K.TRAJ_STEP: int})


def trajectory_curves(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pass@1 and pass@2 against the ACT step, per mode, with their 95 % bands."""
    curves = []
    for mode in MODES:
        sel = [r for r in rows if r[K.TRAJ_MODE] == mode]
        for k in K.SWEEP_KS if sel else ():
            key = K.per_input_pass(k)
            lo, hi = K.ci_keys(key)
            curves.append(
                {
                    "label": f"{mode} pass@{k}",
                    "x": [r[K.TRAJ_STEP] for r in sel],
                    "y": [r[key] for r in sel],
                    "lo": [r[lo] for r in sel],
                    "hi": [r[hi] for r in sel],
                    "style": "-" if k == K.SWEEP_KS[0] else "--",
                }
            )
    return curves


def trajectory_figure(curves: Sequence[Mapping[str, Any]], title: str) -> str:
    """The trajectory's curves (a curve equal to an earlier one dashed and named so)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    same = coinciding(curves)
    for c in curves:
        plot_curve(ax, c, same.get(c["label"]), linestyle=c["style"])
    ax.set_xlabel("ACT step")
    ax.set_xticks(sorted({x for c in curves for x in c["x"]}))  # steps are whole numbers
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return to_data_uri(fig)


TRAJECTORY = "trm analyse trajectory"
ENSEMBLE = "trm analyse ensemble"
COMPARE_RUNS = "trm compare runs"


def _trajectory_section(exp: ExperimentInputs, path: str, chain: Chain) -> dict[str, Any]:
    rows = read_trajectory(path)
    folder = Path(path).parent
    halting_path = folder / "halting.json"
    h = _read_object(must_exist(halting_path, TRAJECTORY), "halting summary")

    def get(key: str) -> Any:
        return require(h, key, halting_path, TRAJECTORY)

    steps, n_rows, never = get(K.HALT_STEPS), get(K.HALT_N_ROWS), get(K.HALT_NEVER)
    mean = get(K.HALT_MEAN_STEP)  # rows that never halt count as the last step
    halting = {
        "steps": steps,
        "mean_step": f"{mean:.2f}",
        # the same mean over the rows that do halt (the others taken out again)
        "mean_halting": f"{(mean * n_rows - steps * never) / (n_rows - never):.2f}"
        if n_rows > never
        else None,
        "saved": fmt.pct(get(K.HALT_SAVED)),
        "never": never,
        "n_rows": n_rows,
        "table": comparison_table(folder / K.HALTED_VS_LAST, TRAJECTORY),
    }
    table = [
        {
            "mode": r[K.TRAJ_MODE],
            "step": r[K.TRAJ_STEP],
            "cells": [
                (
                    fmt.pct(r[K.per_input_pass(k)]),
                    _ci(
                        *(r[c] for c in K.ci_keys(K.per_input_pass(k))),
                        method=r[K.ci_method_key(K.per_input_pass(k))],
                    ),
                )
                for k in K.SWEEP_KS
            ],
            "halted": fmt.pct(r[K.TRAJ_HALTED]),
        }
        for r in rows
    ]
    curves = trajectory_curves(rows)
    return {
        "uri": trajectory_figure(curves, f"{exp.name}: accuracy vs ACT step"),
        "coincide": coincide_text(coinciding(curves), "ACT step").strip(),
        "table": table,
        "halting": halting,
        "chain": chain([str(folder)]),
    }


def _adapt_section(compares: Sequence[tuple[str, str]], chain: Chain) -> dict[str, Any]:
    """`trm adapt` (model/adapt.json beside the comparisons) and fitted vs blank-id accuracy."""
    model = Path(compares[0][1]).parent / "model"
    path = must_exist(model / AS.SUMMARY_FILE, "trm adapt")
    s = _read_object(path, "adapt summary")

    def get(key: str) -> Any:
        return require(s, key, path, "trm adapt")

    return {
        "steps": get(AS.KEY_STEPS),
        "rows_fitted": get(AS.KEY_ROWS_FITTED),
        "rows_total": get(AS.KEY_ROWS_TOTAL),
        "rows_copied": get(AS.KEY_ROWS_COPIED),
        "fit_examples": get(AS.KEY_FIT_EXAMPLES),
        "eval_examples": get(AS.KEY_EVAL_EXAMPLES),
        "loss_before": f"{get(AS.KEY_LOSS_BEFORE):.4f}",
        "loss_after": f"{get(AS.KEY_LOSS_AFTER):.4f}",
        "exact_before": fmt.pct(get(AS.KEY_EXACT_BEFORE)),
        "exact_after": fmt.pct(get(AS.KEY_EXACT_AFTER)),
        "wall_s": f"{get(AS.KEY_WALL_S):.1f}",
        "cpu_s": f"{get(AS.KEY_CPU_S):.1f}",
        "device": get(AS.KEY_DEVICE),
        "modes": [dict(comparison_table(p, COMPARE_RUNS), mode=m) for m, p in compares],
        "chain": chain([str(model), *(p for _, p in compares)]),
    }


def analyses_section(exp: ExperimentInputs, chain: Chain) -> dict[str, Any]:
    """Context of reports/templates/analyses.html.j2 for one experiment ({} without analyses)."""
    a = exp.analyses
    out: dict[str, Any] = {}
    if "analysis_trajectory" in a:
        out["trajectory"] = _trajectory_section(exp, a["analysis_trajectory"], chain)
    ids = [(m, a[f"analysis_ids_{m}"]) for m in MODES if f"analysis_ids_{m}" in a]
    if ids:
        out["ids"] = {
            "modes": [dict(comparison_table(p, COMPARE_RUNS), mode=m) for m, p in ids],
            "chain": chain([p for _, p in ids]),
        }
    if "analysis_ensemble" in a:
        folder = Path(a["analysis_ensemble"])
        found = [(m, folder / K.ensemble_comparisons(m)) for m in MODES]
        out["ensemble"] = {
            "modes": [dict(comparison_table(p, ENSEMBLE), mode=m) for m, p in found if p.exists()],
            "chain": chain([str(folder)]),
        }
        if not out["ensemble"]["modes"]:
            raise ReportInputError(f"{folder}: no {K.ensemble_comparisons('<mode>')} ({ENSEMBLE})")
    adapt = [(m, a[f"analysis_adapt_{m}"]) for m in MODES if f"analysis_adapt_{m}" in a]
    if adapt:
        out["adapt"] = _adapt_section(adapt, chain)
    return out
