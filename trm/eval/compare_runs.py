"""`trm score compare-runs`: one ablation grid's table, computed from its variants' scores.

Every variant of a grid is scored on the same test examples, so its difference from the base
variant is paired: a bootstrap that resamples examples (Sudoku/Maze) or tasks (ARC) together
for both runs. Writes runs/<grid>/grid.json with the keys declared below (the report reads
exactly these; it computes nothing).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trm.errors import UserError
from trm.eval import schema as S
from trm.eval.scoring import check_n_boot, task_pass_rates
from trm.eval.stats import DEFAULT_N_BOOT, DEFAULT_SEED, paired_diff_ci, proportion_ci
from trm.utils import write_json

# ---- grid.json: declared keys (writer: compare_runs; reader: trm.report.grids) --------------
GRID_NAME = "grid"
GRID_METRIC = "metric"  # e.g. "Sudoku/exact_accuracy" or "ARC/pass@2"
GRID_UNIT = "unit"  # what the bootstrap resamples: "test example" or "task"
GRID_BASE = "base"
GRID_N_BOOT = "n_boot"
GRID_ROWS = "variants"  # one row per variant, the base first
ROW_VARIANT = "variant"
ROW_CHANGES = "changes"  # what the variant's override changes
ROW_ACCURACY = "accuracy"  # fraction; interval in ci_keys(ROW_ACCURACY)
ROW_N = "n"  # units scored
ROW_PAPER = "paper_percent"  # the paper's figure, percent, or null
ROW_DIFF = "diff_vs_base"  # accuracy minus the base's, fraction; interval in ci_keys(ROW_DIFF)
ROW_DIFF_P = "diff_vs_base_p_value"
# ---------------------------------------------------------------------------------------------

KINDS = ("arc", "sudoku", "maze")
ARC_K = 2  # ARC variants are compared on pass@2, the paper's ARC figure


def _exact_per_example(score_dir: Path) -> np.ndarray:
    path = score_dir / "per_example.csv"
    if not path.exists():
        raise UserError(f"per-example results not found: {path} (run `trm score sudoku|maze`)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        try:
            return np.array([int(row["exact"]) for row in reader], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{path}: missing or bad field 'exact' ({e})") from e


def _units(kind: str, score_dir: Path) -> tuple[list[str], np.ndarray]:
    """(unit ids, one score per unit): examples for Sudoku/Maze, tasks' pass@2 rate for ARC."""
    if kind == "arc":
        rates = task_pass_rates(score_dir / "per_input.csv")
        return list(rates), np.array([rates[t][ARC_K] for t in rates], dtype=np.float64)
    values = _exact_per_example(score_dir)
    return [str(i) for i in range(len(values))], values


def metric_name(kind: str) -> str:
    if kind == "arc":
        return S.arc_pass_key(ARC_K)
    return S.grid_exact_key("Sudoku" if kind == "sudoku" else "Maze")


def compare_runs(
    kind: str,
    score_dirs: Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    grid: str = "",
    base: str | None = None,
    changes: Mapping[str, str] | None = None,
    paper: Mapping[str, float] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Accuracy of each variant (95 % interval, n) and its paired difference from `base`
    (default: the first variant); writes `out` (JSON). `score_dirs`: variant -> the output
    folder of its `trm score` (paper mode)."""
    if kind not in KINDS:
        raise UserError(f"--kind: {kind!r} is not one of {KINDS}")
    if not score_dirs:
        raise UserError("compare-runs needs at least one --run NAME=SCORE_DIR")
    check_n_boot(n_boot)
    variants: Sequence[str] = list(score_dirs)
    base = base or variants[0]
    if base not in score_dirs:
        raise UserError(f"--base {base!r} is not one of the runs ({', '.join(variants)})")
    units = {v: _units(kind, Path(score_dirs[v])) for v in variants}
    base_ids, base_values = units[base]
    rows = []
    for v in [base] + [v for v in variants if v != base]:
        ids, values = units[v]
        if ids != base_ids:
            raise UserError(
                f"{score_dirs[v]} and {score_dirs[base]} score different test sets "
                f"({len(ids)} vs {len(base_ids)} units): variants must share the dataset"
            )
        lo, hi, method = proportion_ci(values, n_boot=n_boot, seed=seed)
        d = paired_diff_ci(values, base_values, n_boot=n_boot, seed=seed)
        paper_value = (paper or {}).get(v)
        row = {
            ROW_VARIANT: v,
            ROW_CHANGES: (changes or {}).get(v, ""),
            ROW_ACCURACY: float(values.mean()),
            ROW_N: int(len(values)),
            ROW_PAPER: None if paper_value is None else float(paper_value),
            ROW_DIFF: d["diff"],
            ROW_DIFF_P: d["p_value"],
        }
        row.update(zip(S.ci_keys(ROW_ACCURACY), (lo, hi), strict=True))
        row[S.ci_method_key(ROW_ACCURACY)] = method
        row.update(zip(S.ci_keys(ROW_DIFF), (d["ci_low"], d["ci_high"]), strict=True))
        row[S.ci_method_key(ROW_DIFF)] = d["ci_method"]
        rows.append(row)
    result = {
        GRID_NAME: grid,
        GRID_METRIC: metric_name(kind),
        GRID_UNIT: "task" if kind == "arc" else "test example",
        GRID_BASE: base,
        GRID_N_BOOT: n_boot,
        GRID_ROWS: rows,
    }
    write_json(out, result)
    return result


def parse_pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    """['a=x', 'b=y'] -> {'a': 'x', 'b': 'y'} (order kept), naming the flag on a bad item."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"{flag} {item!r}: expected NAME=VALUE")
        if name in out:
            raise UserError(f"{flag}: {name!r} given twice")
        out[name] = value
    return out
