"""A vs B over the same units: THE one comparison of the pipeline, and its one key layout.

Every comparison the pipeline makes (paper vs single mode, grid variants vs the base, puzzle-ID
ablations, checkpoint ensembles, test-time adaptation, the sweep grid, TRM vs the LLM, halted vs
last ACT step, one checkpoint vs another) calls `compare` and writes its records with
`write_comparisons`; the report reads them with `read_comparisons` and renders them with one
table builder (trm.report.comparisons).

A record (a plain dict, JSON as written):

    metric, unit, n          what is compared ("ARC/pass@2"), per what ("task"), how many units
    a, b                     the two sides' names; the difference is a minus b
    a_value, a_ci_low, a_ci_high, a_ci_method     side A's mean and its 95 % interval
    b_value, b_ci_low, b_ci_high, b_ci_method     side B's
    diff, diff_ci_low, diff_ci_high, diff_ci_method, p_value   the paired difference
    n_boot, seed             the resampling behind the intervals
    context                  what else identifies the record (a sweep level, a mode): shown
                             as columns; a key starting with "a_" or "b_" belongs to that side
                             (e.g. a_mean_votes: views pooled by side A at that sweep level)

Values are fractions (0.625 = 62.5 %); differences are fractions too (0.125 = +12.5 points).
Interval methods: trm.eval.stats (bootstrap, wilson, wilson-mover).

A comparisons file: {"format": FORMAT, <about>, "comparisons": [records]}; `about` says what was
compared, e.g. title, base, runs (the names in order), labels {name: text}, paper {name: the
paper's figure in percent}, levels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trm.errors import InputError
from trm.eval.stats import (
    CI_METHOD_BOOTSTRAP,
    CI_METHOD_MOVER,
    CI_METHOD_WILSON,
    Bootstrap,
    paired_diff_ci,
    proportion_ci,
)
from trm.utils import read_format_doc, write_json

FORMAT = "trm-comparisons/1"

# the keys of a record, in the order they are written
SIDE_KEYS = ("value", "ci_low", "ci_high", "ci_method")
RECORD_KEYS: tuple[str, ...] = (
    "metric",
    "unit",
    "n",
    "a",
    *(f"a_{k}" for k in SIDE_KEYS),
    "b",
    *(f"b_{k}" for k in SIDE_KEYS),
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "diff_ci_method",
    "p_value",
    "n_boot",
    "seed",
    "context",
)


_SIDE_METHODS = (CI_METHOD_BOOTSTRAP, CI_METHOD_WILSON)
METHODS: dict[str, tuple[str, ...]] = {  # the interval methods a record may name
    "a_ci_method": _SIDE_METHODS,
    "b_ci_method": _SIDE_METHODS,
    "diff_ci_method": (CI_METHOD_BOOTSTRAP, CI_METHOD_MOVER),
}


def compare(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    a_name: str,
    b_name: str,
    metric: str,
    unit: str,
    boot: Bootstrap,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """a minus b paired over the units both name (unit id -> score in [0, 1]).

    The two sides must score exactly the same units: a comparison over different test sets is
    refused, naming a few units only one side has.
    """
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise InputError(
            f"{a_name} and {b_name} score different {unit}s ({len(a)} vs {len(b)}; only in "
            f"{a_name}: {only_a[:3]}, only in {b_name}: {only_b[:3]}): a paired comparison "
            "needs the same units"
        )
    if not a:
        raise InputError(f"{a_name} vs {b_name}: no {unit}s to compare")
    units = list(a)
    x = np.array([a[u] for u in units], dtype=np.float64)
    y = np.array([b[u] for u in units], dtype=np.float64)
    record: dict[str, Any] = {"metric": metric, "unit": unit, "n": len(units)}
    for side, name, values in (("a", a_name, x), ("b", b_name, y)):
        lo, hi, method = proportion_ci(values, boot)
        record[side] = name
        record |= dict(
            zip(
                (f"{side}_{k}" for k in SIDE_KEYS),
                (float(values.mean()), lo, hi, method),
                strict=True,
            )
        )
    d = paired_diff_ci(x, y, boot)
    record |= {
        "diff": d["diff"],
        "diff_ci_low": d["ci_low"],
        "diff_ci_high": d["ci_high"],
        "diff_ci_method": d["ci_method"],
        "p_value": d["p_value"],
        "n_boot": boot.n_boot,
        "seed": boot.seed,
        "context": dict(context or {}),
    }
    return {k: record[k] for k in RECORD_KEYS}


def write_comparisons(
    out: str | os.PathLike, records: Sequence[Mapping[str, Any]], **about: Any
) -> dict[str, Any]:
    """Write records as one comparisons file (atomically); `about` says what was compared
    (e.g. title="paper vs single mode", grid="sudoku-ablations")."""
    doc = {"format": FORMAT, **about, "comparisons": [dict(r) for r in records]}
    write_json(out, doc)
    return doc


def read_comparisons(path: str | os.PathLike) -> dict[str, Any]:
    """A comparisons file, checked: every record has every key of the layout and known interval
    methods (an error names the file, the record and the key)."""
    doc, records = read_format_doc(path, "comparisons file", FORMAT, "comparisons")
    for i, rec in enumerate(records):
        missing = [k for k in RECORD_KEYS if k not in rec]
        if missing:
            raise InputError(f"{path}: comparisons[{i}] lacks key {missing[0]!r}")
        for key, allowed in METHODS.items():
            if rec[key] not in allowed:
                raise InputError(
                    f"{path}: comparisons[{i}].{key} is {rec[key]!r}, not one of {allowed}"
                )
        if not isinstance(rec["context"], dict):
            raise InputError(f"{path}: comparisons[{i}].context must be an object")
    return doc
