"""The declared keys of the file `trm llm score` writes; the writer builds them here and the
report (trm/report/llm.py) reads exactly these.

Scores reuse the TRM scorer's names (trm.eval.schema): `ARC/pass@K` with its interval in
`ARC/pass@K_ci_low` / `_ci_high`, per_input.csv with the same columns. Only what is particular
to the LLM baseline (parse failures, token limits, cost) is declared here. TRM vs the LLM is a comparison like any other (`trm compare runs`,
trm.eval.paired).
"""

from __future__ import annotations

from trm.eval import schema as S

PASS_KS: tuple[int, ...] = S.SWEEP_KS  # two attempts per test input: pass@1 and pass@2
HEADLINE: tuple[str, ...] = tuple(S.arc_pass_key(k) for k in PASS_KS)

# ---- runs/<exp>/llm/score/metrics.json of `trm llm score` ---------------------------------------
N_TASKS = S.ARC_N_TASKS
N_TEST_INPUTS = S.ARC_N_TEST_INPUTS
N_PREDICTIONS = "n_predictions"  # decoded prompts (original and augmented views)
N_UNPARSEABLE = "n_unparseable"  # decoded text that is no grid: a wrong answer, counted
N_HIT_TOKEN_LIMIT = "n_hit_token_limit"  # generation stopped by max_new_tokens
N_SKIPPED_OVERLONG = "n_prompts_skipped_overlong"
N_TRUNCATED_OVERLONG = "n_prompts_truncated_overlong"  # lost whole demonstrations
N_WITHOUT_ANSWER = "n_test_inputs_without_answer"  # no parseable answer in any view
ATTEMPTS = "attempts"  # how attempt_1/attempt_2 were chosen, in words
COST = "cost"  # {COST_*}: the keys below, each present when a summary reported it


class Cost:
    """Keys inside metrics.json's `cost` object (from the train and predict summaries)."""

    PARAMETERS = "parameters"
    TRAINABLE_PARAMETERS = "trainable_parameters"
    TOKENS_GENERATED = "tokens_generated"
    DEVICE = "device"
    TRAIN_SECONDS = "train_seconds"
    PREDICT_SECONDS = "predict_seconds"
    GPU_HOURS = "gpu_hours"
    CPU_SECONDS = "cpu_seconds"

    FIRST_SEEN: tuple[str, ...] = (PARAMETERS, TRAINABLE_PARAMETERS, DEVICE)
    SUMMED: tuple[str, ...] = (
        TOKENS_GENERATED,
        TRAIN_SECONDS,
        PREDICT_SECONDS,
        GPU_HOURS,
        CPU_SECONDS,
    )


COUNTS: tuple[str, ...] = (
    N_TASKS,
    N_TEST_INPUTS,
    N_PREDICTIONS,
    N_UNPARSEABLE,
    N_HIT_TOKEN_LIMIT,
    N_SKIPPED_OVERLONG,
    N_TRUNCATED_OVERLONG,
    N_WITHOUT_ANSWER,
)
