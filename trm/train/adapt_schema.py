"""What `trm adapt` writes and reads: its settings and the keys of OUT/adapt.json.

Kept apart from trm.train.adapt (which imports torch) so that the CLI's parser and the report
read them cheaply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trm.errors import InputError

SUMMARY_FILE = "adapt.json"
SUMMARY_KIND = "trm adapt"  # the summary's `kind`: recognises an earlier output of this command

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


@dataclass(frozen=True)
class AdaptConfig:
    """How the new rows are fitted (defaults: the reference's ARC puzzle-embedding settings)."""

    steps: int = 100
    lr: float = 1e-2  # the reference's puzzle_emb_lr
    weight_decay: float = 0.1  # the reference's puzzle_emb_weight_decay
    batch_size: int = 64
    seed: int = 0
    eval_examples: int = 256  # fitted examples the loss before/after is measured on
    device: str = "auto"
    threads: int | None = None

    def validate(self) -> None:
        if self.steps < 0:
            raise InputError(f"--steps must be >= 0, got {self.steps}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            raise InputError(f"--lr must be a finite number >= 0, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise InputError(
                f"--weight-decay must be a finite number >= 0, got {self.weight_decay}"
            )
        if self.eval_examples < 1:
            raise InputError(f"--eval-examples must be >= 1, got {self.eval_examples}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads must be >= 1, got {self.threads}")
