"""Declared keys of the analyses' output files (issue 11); writers and the report use these.

Interval layout as in trm.eval.schema: a value `K` has `K_ci_low`, `K_ci_high` and the
interval's method in `K_ci_method`. Comparisons (halted vs last step, checkpoints vs the last)
are comparisons files of trm.eval.paired.
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


# ---- halting.json of `trm analyse trajectory` --------------------------------------------------
HALT_STEPS = "act_steps"  # ACT steps run per example
HALT_N_ROWS = "n_rows"
HALT_NEVER = "n_rows_never_halting"  # rows whose q_halt never says halt (they run all steps)
HALT_MEAN_STEP = "mean_halt_step"  # mean first step with q_halt > 0 (act_steps when never)
HALT_SAVED = "act_steps_saved_fraction"  # 1 - mean_halt_step / act_steps
HALT_HISTOGRAM = "halt_step_histogram"  # {"k": rows first halting at step k}


# ---- halted_vs_last.json of `trm analyse trajectory`: comparisons (trm.eval.paired) --------------
HALTED_VS_LAST = "halted_vs_last.json"  # per mode (context) and pass@K: a = "halted", b = "last"
# ---- steps_vs_first.json: per mode (context), step k > 1 and pass@K: a = "step k", b = "step 1" --
STEPS_VS_FIRST = "steps_vs_first.json"


# ---- compare_<mode>.json of `trm analyse ensemble`: comparisons (trm.eval.paired) ---------------
def ensemble_comparisons(mode: str) -> str:
    """Every checkpoint and the pool against the last checkpoint, in `mode`."""
    return f"compare_{mode}.json"


# ---- `trm analyse checkpoints` (accuracy over training): files in its --out folder --------------
CKPT_TABLE = "checkpoints.csv"  # one row per (step, weights, mode, metric)
CKPT_SUMMARY = "summary.json"
CKPT_COMPARISONS = "best_vs_last.json"  # comparisons file: a = the last, b = the best earlier
CKPT_RAW_COMPARISONS = "raw_vs_ema.json"  # comparisons file: a = raw, b = EMA, the same step
# checkpoints.csv columns; the value's interval as in trm.eval.schema (value_ci_low, ...)
CKPT_STEP = "step"  # training step (optimizer steps) of the weights
CKPT_WEIGHTS = "weights"  # one of CKPT_WEIGHT_KINDS
CKPT_MODE = "mode"  # paper | single (ARC); paper for the kinds that do not vote
CKPT_METRIC = "metric"  # ARC/pass@1, ARC/pass@2, or <Kind>/exact_accuracy
CKPT_VALUE = "value"
CKPT_N = "n"  # units the value is over
CKPT_UNIT = "unit"  # task (ARC) or test example
# what the weights are: the step_N files of a run trained with EMA ("ema") or without ("raw"),
# the live weights of state.pt at its step ("raw"), or step_N files whose run config does not say
# whether they are averaged ("unknown", e.g. a fetched folder without all_config.yaml)
CKPT_WEIGHT_KINDS = ("ema", "raw", "unknown")


def checkpoints_columns() -> list[str]:
    value = [CKPT_VALUE, *ci_keys(CKPT_VALUE), ci_method_key(CKPT_VALUE)]
    return [CKPT_STEP, CKPT_WEIGHTS, CKPT_MODE, CKPT_METRIC, *value, CKPT_N, CKPT_UNIT]


# summary.json keys
CKPT_S_KIND = "kind"
CKPT_S_EMA = "ema"  # the run trained with EMA: true, false, or null (unknown)
CKPT_S_RUNS = "runs"  # [{name, step, weights, folder}] in the order scored
CKPT_S_LAST = "last"  # name of the highest step_N (the weights `trm predict` loads by default)
CKPT_S_BEST = "best"  # name of the best other weights (null with a single one)
CKPT_S_BEST_BY = "best_by"  # {metric, mode}: what "best" is judged on
CKPT_S_LAST_WORSE = "last_worse_beyond_noise"  # last − best on best_by: interval below 0
CKPT_S_RAW = "raw"  # {requested, scored, step, reason, compared: raw_vs_ema.json or null}
