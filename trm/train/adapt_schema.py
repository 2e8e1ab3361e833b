"""What `trm adapt` writes and reads: how the new rows are fitted (`AdaptConfig`, the declared
settings of analyses.adapt) and the keys of OUT/adapt.json.

Kept apart from trm.train.adapt (which imports torch) so that the command's parser and the
report read them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from trm.settings import SEED, count, non_negative, positive, setting, size

SUMMARY_FILE = "adapt.json"
SUMMARY_KIND = "trm adapt"  # the summary's `kind`: which command wrote it

# adapt.json keys (the report and the workflow read these)
KEY_KIND = "kind"
KEY_STEPS = "steps"
KEY_ROWS_TOTAL = "rows_total"
KEY_ROWS_COPIED = "rows_copied"
KEY_ROWS_NEW = "rows_new"
KEY_ROWS_FITTED = "rows_fitted"
KEY_FIT_EXAMPLES = "fit_examples"
KEY_EVAL_EXAMPLES = "eval_examples"
KEY_LOSS_BEFORE = "loss_before"
KEY_LOSS_AFTER = "loss_after"
KEY_EXACT_BEFORE = "exact_before"
KEY_EXACT_AFTER = "exact_after"
KEY_WALL_S = "wall_s"
KEY_CPU_S = "cpu_s"
KEY_DEVICE = "device"
KEY_WEIGHTS = "weights"


MAX_BATCH = 65_536  # examples per step: each one is a full sequence of activations


@dataclass(kw_only=True)
class AdaptConfig:
    """How the new rows are fitted (defaults: the reference's ARC puzzle-embedding settings).
    The workflow's analyses.adapt keys; recorded in adapt.json."""

    steps: int = setting(
        100, check=count(0, 10_000_000), help="sign-SGD steps on the new rows (0: no fitting)"
    )
    lr: float = setting(
        1e-2, check=positive(), help="sign-SGD step size (the reference's puzzle_emb_lr)"
    )
    weight_decay: float = setting(
        0.1, check=non_negative(), help="decoupled weight decay of the fitted rows"
    )
    batch_size: int = setting(64, check=size(1, MAX_BATCH), help="examples per step")
    seed: int = setting(0, check=SEED, help="batch order and ACT exploration")
    eval_examples: int = setting(
        256,
        check=count(1, 10_000_000),
        help="fitted examples the loss before/after is measured on",
    )


def fitting_settings(config: AdaptConfig) -> dict[str, Any]:
    """The AdaptConfig part of a command's settings, as adapt.json records it."""
    return {f.name: getattr(config, f.name) for f in fields(AdaptConfig)}
