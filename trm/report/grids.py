"""The report's ablation-grid tables: one table per grid, read from runs/<grid>/grid.json
through the keys `trm score compare-runs` declares (trm.eval.compare_runs), and for a grid whose
variants sweep over one test split the variants x test votes table, from runs/<grid>/
sweep_grid.json (keys of trm.eval.analyses.sweep_grid); formatting only."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.eval import compare_runs as C
from trm.eval.analyses import sweep_grid as SG
from trm.eval.schema import CI_METHOD_SHORT, ci_keys, ci_method_key
from trm.report import fmt
from trm.report.inputs import ReportInputError
from trm.utils import read_json

ROW_KEYS: tuple[str, ...] = (
    C.ROW_VARIANT,
    C.ROW_CHANGES,
    C.ROW_ACCURACY,
    *ci_keys(C.ROW_ACCURACY),
    ci_method_key(C.ROW_ACCURACY),
    C.ROW_N,
    C.ROW_PAPER,
    C.ROW_DIFF,
    *ci_keys(C.ROW_DIFF),
    ci_method_key(C.ROW_DIFF),
    C.ROW_DIFF_P,
)
TOP_KEYS: tuple[str, ...] = (C.GRID_NAME, C.GRID_METRIC, C.GRID_UNIT, C.GRID_BASE, C.GRID_ROWS)


@dataclass
class GridInputs:
    """One grid's table file and the provenance records behind it."""

    name: str
    grid_json: str
    experiments: dict[str, str] = field(default_factory=dict)  # variant -> experiment name
    records: list[str] = field(default_factory=list)
    sweep_json: str | None = None  # variants x test votes (rule sweep_grid), when planned


def _check_keys(path: str | os.PathLike, obj: Any, keys: Sequence[str], where: str) -> None:
    """Every declared key is in `obj`, else an error naming the file, the place and the key."""
    if not isinstance(obj, dict):
        raise ReportInputError(f"{path}: {where} is not a JSON object")
    for key in keys:
        if key not in obj:
            raise ReportInputError(f"{path}: {where} lacks key {key!r}")


def read_grid(path: str | os.PathLike) -> dict[str, Any]:
    """grid.json, failing with the file and key when a declared key is missing."""
    data = read_json(path, "grid table")
    _check_keys(path, data, TOP_KEYS, "the grid table (written by compare-runs)")
    for i, row in enumerate(data[C.GRID_ROWS]):
        _check_keys(path, row, ROW_KEYS, f"{C.GRID_ROWS}[{i}]")
    return data


SWEEP_TOP_KEYS: tuple[str, ...] = (
    SG.SG_GRID,
    SG.SG_METRIC,
    SG.SG_UNIT,
    SG.SG_BASE,
    SG.SG_LEVELS,
    SG.SG_ROWS,
)
SWEEP_CELL_KEYS: tuple[str, ...] = (
    SG.CELL_LEVEL,
    SG.CELL_ACCURACY,
    *ci_keys(SG.CELL_ACCURACY),
    SG.CELL_CI_METHOD,
    SG.CELL_N,
    SG.CELL_MEAN_VOTES,
    SG.CELL_DIFF,
    *ci_keys(SG.CELL_DIFF),
    SG.CELL_DIFF_P,
    SG.CELL_DIFF_CI_METHOD,
)


def read_sweep_grid(path: str | os.PathLike) -> dict[str, Any]:
    """sweep_grid.json, failing with the file and key when a declared key is missing."""
    data = read_json(path, "sweep grid table")
    _check_keys(path, data, SWEEP_TOP_KEYS, "the sweep grid table (written by sweep-grid)")
    for i, row in enumerate(data[SG.SG_ROWS]):
        where = f"{SG.SG_ROWS}[{i}]"
        _check_keys(path, row, (SG.ROW_NAME, SG.ROW_LABEL, SG.ROW_CELLS), where)
        if [c.get(SG.CELL_LEVEL) for c in row[SG.ROW_CELLS]] != data[SG.SG_LEVELS]:
            raise ReportInputError(f"{path}: {where}.{SG.ROW_CELLS} do not follow {SG.SG_LEVELS}")
        for j, cell in enumerate(row[SG.ROW_CELLS]):
            _check_keys(path, cell, SWEEP_CELL_KEYS, f"{where}.{SG.ROW_CELLS}[{j}]")
    return data


def sweep_grid_view(path: str | os.PathLike) -> dict[str, Any]:
    """The template's view of a variants x test votes table: preformatted cells."""
    data = read_sweep_grid(path)
    base = data[SG.SG_BASE]
    rows = []
    for r in data[SG.SG_ROWS]:
        cells, diffs = [], []
        for c in r[SG.ROW_CELLS]:
            lo, hi = (c[k] for k in ci_keys(SG.CELL_ACCURACY))
            cells.append(
                {
                    "accuracy": fmt.pct(c[SG.CELL_ACCURACY]),
                    "interval": fmt.interval(lo, hi, _method(c[SG.CELL_CI_METHOD])),
                    "n": c[SG.CELL_N],
                    "votes": f"{c[SG.CELL_MEAN_VOTES]:.1f}",
                }
            )
            if c[SG.CELL_DIFF] is None:
                diffs.append(None)
            else:
                dlo, dhi = (c[k] for k in ci_keys(SG.CELL_DIFF))
                diffs.append(
                    {
                        "diff": fmt.pts(c[SG.CELL_DIFF]),
                        "interval": fmt.interval(
                            dlo, dhi, _method(c[SG.CELL_DIFF_CI_METHOD]), signed=True
                        ),
                        "p_value": f"{c[SG.CELL_DIFF_P]:.3f}",
                    }
                )
        rows.append(
            {
                "name": r[SG.ROW_NAME],
                "label": r[SG.ROW_LABEL],
                "is_base": r[SG.ROW_NAME] == base,
                "cells": cells,
                "diffs": diffs,
            }
        )
    n_units = rows[0]["cells"][0]["n"] if rows and rows[0]["cells"] else 0
    return {
        "metric": data[SG.SG_METRIC],
        "unit": data[SG.SG_UNIT],
        "base": base,
        "levels": data[SG.SG_LEVELS],
        "n": n_units,
        "rows": rows,
    }


def _method(m: str) -> str:
    """An interval's method as a table cell names it (trm.eval.schema.CI_METHOD_SHORT)."""
    if m not in CI_METHOD_SHORT:
        raise ReportInputError(
            f"unknown interval method {m!r} (expected {sorted(CI_METHOD_SHORT)})"
        )
    return CI_METHOD_SHORT[m]


def grid_section(grid: GridInputs, bundle: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The template's view of one grid: preformatted cells, the base row first."""
    from trm.report.render import chain

    data = read_grid(grid.grid_json)
    base = data[C.GRID_BASE]
    rows = []
    for r in data[C.GRID_ROWS]:
        lo, hi = (r[k] for k in ci_keys(C.ROW_ACCURACY))
        dlo, dhi = (r[k] for k in ci_keys(C.ROW_DIFF))
        is_base = r[C.ROW_VARIANT] == base
        rows.append(
            {
                "variant": r[C.ROW_VARIANT],
                "experiment": grid.experiments.get(r[C.ROW_VARIANT], ""),
                "changes": r[C.ROW_CHANGES],
                "accuracy": fmt.pct(r[C.ROW_ACCURACY]),
                "interval": fmt.interval(lo, hi, _method(r[ci_method_key(C.ROW_ACCURACY)])),
                "n": r[C.ROW_N],
                "paper": "–" if r[C.ROW_PAPER] is None else f"{r[C.ROW_PAPER]:.1f} %",
                "diff": "base" if is_base else fmt.pts(r[C.ROW_DIFF]),
                "diff_interval": ""
                if is_base
                else fmt.interval(dlo, dhi, _method(r[ci_method_key(C.ROW_DIFF)]), signed=True),
                "p_value": "" if is_base else f"{r[C.ROW_DIFF_P]:.3f}",
            }
        )
    tables = [str(Path(grid.grid_json))] + ([str(Path(grid.sweep_json))] if grid.sweep_json else [])
    return {
        "name": data[C.GRID_NAME] or grid.name,
        "metric": data[C.GRID_METRIC],
        "unit": data[C.GRID_UNIT],
        "base": base,
        "rows": rows,
        "sweep": sweep_grid_view(grid.sweep_json) if grid.sweep_json else None,
        "provenance": chain(bundle, tables),
    }


def grid_sections(
    grids: Sequence[GridInputs], bundle: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    return [grid_section(g, bundle) for g in grids]
