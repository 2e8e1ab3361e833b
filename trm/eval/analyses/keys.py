"""Declared keys of the analyses' output files (issue 11); writers and the report use these.

Interval layout as in trm.eval.schema: a value `K` has `K_ci_low`, `K_ci_high` and the
interval's method in `K_ci_method`.
"""

from __future__ import annotations

from trm.eval.schema import SWEEP_KS, ci_keys, ci_method_key, per_input_pass

__all__ = ["SWEEP_KS", "ci_keys", "ci_method_key", "per_input_pass"]

# ---- trajectory.csv of `trm analyse trajectory`: one row per (mode, ACT step) -------------------
TRAJ_MODE = "mode"
TRAJ_STEP = "step"  # 1-based ACT step
TRAJ_HALTED = "halted_fraction"  # share of rows whose q_halt logit is > 0 at this step
# then per K in SWEEP_KS: pass@K, pass@K_ci_low, pass@K_ci_high, pass@K_ci_method


def trajectory_columns() -> list[str]:
    cols = [TRAJ_MODE, TRAJ_STEP]
    for k in SWEEP_KS:
        cols += [per_input_pass(k), *ci_keys(per_input_pass(k)), ci_method_key(per_input_pass(k))]
    return [*cols, TRAJ_HALTED]


# ---- the files of `trm analyse trajectory OUT` ------------------------------------------------
TRAJECTORY_CSV = "trajectory.csv"
HALTING_JSON = "halting.json"
HALTED_VS_LAST_JSON = "halted_vs_last.json"  # comparisons file (trm.eval.paired)

# halting.json: the halting figures
HALT_STEPS = "act_steps"  # ACT steps run per example
HALT_N_ROWS = "n_rows"
HALT_NEVER = "n_rows_never_halting"  # rows whose q_halt never says halt (they run all steps)
HALT_MEAN_STEP = "mean_halt_step"  # mean first step with q_halt > 0 (act_steps when never)
HALT_SAVED = "act_steps_saved_fraction"  # 1 - mean_halt_step / act_steps
HALT_HISTOGRAM = "halt_step_histogram"  # {"k": rows first halting at step k}

# halted_vs_last.json: one record per mode and K, metric ARC/pass@K over tasks,
# a = every example at its first halting step, b = every example at the last step
HALTED = "halted"
LAST = "last"
HALT_MODE = "mode"  # the record's context key: paper or single voting


# ---- `trm analyse ensemble OUT` ----------------------------------------------------------------
ENSEMBLE_POOLED = "pooled"  # the side that votes every checkpoint's predictions together
ENSEMBLE_MODE = "mode"  # the records' context key


def ensemble_step(step: int) -> str:
    """The name of one checkpoint (its folder under OUT and its side in the comparisons)."""
    return f"step_{step}"


def ensemble_compare_json(mode: str) -> str:
    """OUT/compare_<mode>.json: comparisons file, pooled and each earlier checkpoint (a) vs
    the last checkpoint (b), per K, metric ARC/pass@K over tasks."""
    return f"compare_{mode}.json"


# ---- the compare JSON of the former `trm analyse compare` (read by the report until `trm compare
# runs` replaces it) ---------------------------------------------------------------------------
CMP_BASE = "baseline"
CMP_N_TASKS = "n_tasks"
CMP_N_BOOT = "n_boot"
CMP_VARIANTS = "variants"  # {name: {pass@K, pass@K_ci.., diff/pass@K, diff/pass@K_ci.., _p_value}}


def cmp_pass_key(k: int) -> str:
    return f"pass@{k}"


def cmp_diff_key(k: int) -> str:
    """variant minus baseline pass@K, mean over tasks of the per-task difference."""
    return f"minus_baseline/pass@{k}"


def cmp_p_key(k: int) -> str:
    return f"{cmp_diff_key(k)}_p_value"
