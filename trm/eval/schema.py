"""The declared keys of every file the scorers write; writers build them here, readers (the
report) read exactly these. Changing a name here changes writer and reader together.

One interval layout everywhere: a value `K` has its 95 % interval in `K_ci_low` and
`K_ci_high` (flat keys in JSON, columns in CSV). Accuracies (proportions over tasks or examples)
also state how the interval was made in `K_ci_method`: "bootstrap" (percentile bootstrap over
units) or "wilson" (Wilson score interval, used where the bootstrap degenerates: every unit
passed or every unit failed, or fewer than trm.eval.stats.SMALL_N units). Paired differences
state theirs too: "bootstrap" (paired percentile bootstrap) or "wilson-mover" (where the paired
bootstrap degenerates or has too few units; trm.eval.stats.paired_diff_ci).
"""

from __future__ import annotations

PASS_KS: tuple[int, ...] = (1, 2, 5, 10, 100, 1000)  # the contract's ARC/pass@K keys
SWEEP_KS: tuple[int, ...] = (1, 2)  # pass@K columns of the sweep; ARC's compared metrics


def ci_keys(key: str) -> tuple[str, str]:
    """Keys of the 95 % interval of `key`."""
    return f"{key}_ci_low", f"{key}_ci_high"


def ci_method_key(key: str) -> str:
    """Key naming the method of `key`'s interval (a key of CI_METHODS)."""
    return f"{key}_ci_method"


CI_METHODS: dict[str, str] = {  # the values of ci_method_key, as the report names them
    "bootstrap": "percentile bootstrap",
    "wilson": "Wilson score interval",
    "wilson-mover": "Wilson intervals of gains and losses, combined (MOVER)",
}
CI_METHOD_SHORT: dict[str, str] = {  # the same, where a table cell names it beside the interval
    "bootstrap": "bootstrap",
    "wilson": "Wilson",
    "wilson-mover": "Wilson-MOVER",
}


# ---- scores/<mode>/metrics.json of `trm score arc` ----------------------------------------------


def arc_pass_key(k: int) -> str:
    """Contract key of ARC pass@K (a plain float)."""
    return f"ARC/pass@{k}"


ARC_HEADLINE: tuple[str, ...] = (arc_pass_key(1), arc_pass_key(2))  # the report's summary rows
ARC_MODE = "mode"
ARC_N_TASKS = "n_tasks"
ARC_N_TEST_INPUTS = "n_test_inputs"
ARC_VOTES_MEAN = "effective_votes_mean"
ARC_VOTES_MIN = "effective_votes_min"

# ---- scores/<mode>/per_example.jsonl of `trm score arc` (one record per test input) ------------
ARC_PER_EXAMPLE: tuple[str, ...] = (
    "puzzle_name",
    "input_hash",
    "label_hash",
    "top1_pred_hash",
    "top1_correct",
    "num_votes",
)
ARC_PER_EXAMPLE_VOTES = "num_votes"

# ---- scores/<mode>/per_input.csv of `trm score arc` (read by `trm compare runs`) ---------------
PER_INPUT_TASK = "task"
PER_INPUT_N_VOTES = "n_votes"  # predictions (views) pooled for the test input
PER_INPUT_TOP_VOTES = "top_votes"  # votes the chosen (top) answer received: the agreement
PER_INPUT: tuple[str, ...] = (
    PER_INPUT_TASK,
    "test_index",
    PER_INPUT_N_VOTES,
    "n_candidates",
    PER_INPUT_TOP_VOTES,
    "label_rank",
)  # then one 0/1 column `pass@K` per K voted


def per_input_pass(k: int) -> str:
    return f"pass@{k}"


# ---- scores/paper/metrics.json of `trm score sudoku|maze` ---------------------------------------


def grid_exact_key(task_name: str) -> str:
    """Share of test examples whose every scored cell is right (the paper's figure)."""
    return f"{task_name}/exact_accuracy"


def grid_cell_key(task_name: str) -> str:
    return f"{task_name}/cell_accuracy"


GRID_N_EXAMPLES = "n_examples"
GRID_N_CELLS = "n_cells_scored"
GRID_PER_EXAMPLE: tuple[str, ...] = ("row", "exact", "cells_right", "cells_scored")

# ---- acc_vs_aug.csv of `trm sweep` ----------------------------------------------------------------
SWEEP_LEVEL = "level"


def sweep_pass(k: int) -> str:
    return f"pass@{k}"


SWEEP_MEAN_VOTES = "mean_votes"
SWEEP_MIN_VOTES = "min_votes"
SWEEP_N_TEST_INPUTS = "n_test_inputs"
SWEEP_DRAWS = "draws"  # the next four per K only with --draws


def sweep_draws(k: int, stat: str) -> str:
    """Column of a statistic (mean, std, min, max) of pass@K over random draws of copies."""
    return f"pass@{k}_draws_{stat}"
