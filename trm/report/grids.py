"""The report's ablation-grid tables: one table per grid, read from runs/<grid>/grid.json
through the keys `trm score compare-runs` declares (trm.eval.compare_runs); formatting only."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.eval import compare_runs as C
from trm.eval.schema import ci_keys
from trm.report.inputs import ReportInputError
from trm.utils import read_json

ROW_KEYS: tuple[str, ...] = (
    C.ROW_VARIANT,
    C.ROW_CHANGES,
    C.ROW_ACCURACY,
    *ci_keys(C.ROW_ACCURACY),
    C.ROW_N,
    C.ROW_PAPER,
    C.ROW_DIFF,
    *ci_keys(C.ROW_DIFF),
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


def read_grid(path: str | os.PathLike) -> dict[str, Any]:
    """grid.json, failing with the file and key when a declared key is missing."""
    data = read_json(path, "grid table")
    for key in TOP_KEYS:
        if key not in data:
            raise ReportInputError(f"{path}: missing key {key!r} (written by compare-runs)")
    for i, row in enumerate(data[C.GRID_ROWS]):
        for key in ROW_KEYS:
            if key not in row:
                raise ReportInputError(f"{path}: {C.GRID_ROWS}[{i}] lacks key {key!r}")
    return data


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _pts(v: float) -> str:
    return f"{100 * v:+.1f}"


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
                "accuracy": _pct(r[C.ROW_ACCURACY]),
                "interval": f"[{100 * lo:.1f}, {100 * hi:.1f}]",
                "n": r[C.ROW_N],
                "paper": "–" if r[C.ROW_PAPER] is None else f"{r[C.ROW_PAPER]:.1f} %",
                "diff": "base" if is_base else f"{_pts(r[C.ROW_DIFF])} pt",
                "diff_interval": "" if is_base else f"[{_pts(dlo)}, {_pts(dhi)}] pt",
                "p_value": "" if is_base else f"{r[C.ROW_DIFF_P]:.3f}",
            }
        )
    return {
        "name": data[C.GRID_NAME] or grid.name,
        "metric": data[C.GRID_METRIC],
        "unit": data[C.GRID_UNIT],
        "base": base,
        "rows": rows,
        "provenance": chain(bundle, [str(Path(grid.grid_json))]),
    }


def grid_sections(
    grids: Sequence[GridInputs], bundle: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    return [grid_section(g, bundle) for g in grids]
