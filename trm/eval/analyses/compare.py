"""Variants against a baseline over the same tasks: pass@K of each and the paired difference.

Used by the puzzle-ID ablation (blank/random/mean against true) and the checkpoint ensemble
(pooled against one checkpoint): each side is a `trm score arc` output folder; its
per_input.csv gives per-task pass rates, resampled together (trm.eval.stats).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trm.errors import UserError
from trm.eval.analyses import keys as K
from trm.eval.scoring import check_n_boot, task_pass_rates
from trm.eval.stats import DEFAULT_N_BOOT, DEFAULT_SEED, paired_diff_ci, proportion_ci
from trm.utils import write_json


def parse_named(items: list[str], flag: str) -> list[tuple[str, Path]]:
    """NAME=DIR items -> [(name, dir)]."""
    out = []
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise UserError(f"{flag} takes NAME=DIR, got {item!r}")
        out.append((name, Path(folder)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise UserError(f"{flag}: names must be distinct, got {names}")
    return out


def compare_variants(
    baseline: tuple[str, Path],
    variants: list[tuple[str, Path]],
    out: str | os.PathLike,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """pass@K (with interval) of the baseline and every variant, and variant minus baseline
    (paired bootstrap over tasks); writes `out` (keys: trm.eval.analyses.keys)."""
    check_n_boot(n_boot)
    base_name, base_dir = baseline
    base = task_pass_rates(base_dir / "per_input.csv")
    tasks = list(base)
    result: dict[str, Any] = {
        K.CMP_BASE: base_name,
        K.CMP_N_TASKS: len(tasks),
        K.CMP_N_BOOT: n_boot,
    }
    entries: dict[str, Any] = {}
    for name, folder in [baseline, *variants]:
        rates = task_pass_rates(folder / "per_input.csv")
        if list(rates) != tasks:
            raise UserError(f"{folder} and {base_dir} score different task lists: not comparable")
        entry: dict[str, Any] = {}
        for k in K.SWEEP_KS:
            values = [rates[t][k] for t in tasks]
            key = K.cmp_pass_key(k)
            entry[key] = sum(values) / len(values)
            lo, hi, method = proportion_ci(values, n_boot=n_boot, seed=seed)
            entry.update(zip(K.ci_keys(key), (lo, hi), strict=True))
            entry[K.ci_method_key(key)] = method
            d = paired_diff_ci(values, [base[t][k] for t in tasks], n_boot=n_boot, seed=seed)
            dkey = K.cmp_diff_key(k)
            entry[dkey] = d["diff"]
            entry.update(zip(K.ci_keys(dkey), (d["ci_low"], d["ci_high"]), strict=True))
            entry[K.ci_method_key(dkey)] = d["ci_method"]
            entry[K.cmp_p_key(k)] = d["p_value"]
        entries[name] = entry
    result[K.CMP_VARIANTS] = entries
    write_json(out, result)
    return result
