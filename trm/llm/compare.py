"""TRM minus the LLM baseline over the same ARC tasks: a paired bootstrap over tasks of the
per-task pass@1/pass@2 (the two scorers write per_input.csv with the same columns). The one
place this difference is computed; the report shows it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trm.errors import UserError
from trm.eval.scoring import check_n_boot, paired_pass_diffs, task_pass_rates
from trm.eval.stats import DEFAULT_N_BOOT, DEFAULT_SEED
from trm.llm import schema as L
from trm.utils import write_json


def compare_trm_llm(
    trm_scores: str | os.PathLike,
    llm_scores: str | os.PathLike,
    out: str | os.PathLike,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Paired difference TRM minus LLM from two score folders; writes `out` (trm.llm.schema)."""
    check_n_boot(n_boot)
    trm = task_pass_rates(Path(trm_scores) / "per_input.csv")
    llm = task_pass_rates(Path(llm_scores) / "per_input.csv")
    if set(trm) != set(llm):
        only_trm, only_llm = sorted(set(trm) - set(llm)), sorted(set(llm) - set(trm))
        raise UserError(
            f"{trm_scores} and {llm_scores} score different tasks (only TRM: {only_trm[:5]}, "
            f"only LLM: {only_llm[:5]}): a paired difference needs the same test tasks"
        )
    result: dict[str, Any] = {
        L.COMPARE_N_TASKS: len(trm),
        L.COMPARE_N_BOOT: n_boot,
        L.COMPARE_TRM: str(trm_scores),
        L.COMPARE_LLM: str(llm_scores),
    }
    result |= paired_pass_diffs(trm, llm, L.compare_diff_key, L.compare_p_key, n_boot, seed)
    write_json(out, result)
    return result
