"""Learning-rate schedule: linear warm-up, then cosine decay to `min_ratio * base_lr`; and the
reference's estimate of the number of steps the schedule spans."""

from __future__ import annotations

import math


def cosine_with_warmup(
    step: int,
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_ratio: float = 0.0,
    num_cycles: float = 0.5,
) -> float:
    """The reference schedule, evaluated at the (1-based) step about to be taken.

    Warm-up: `base_lr * step / warmup_steps`. Then cosine over the remaining steps from
    `base_lr` down to `min_ratio * base_lr` (`min_ratio` 1.0 gives a constant rate, the ARC
    setting; the default half cycle ends exactly at the floor).
    """
    if step < warmup_steps:
        return base_lr * float(step) / float(max(1, warmup_steps))
    progress = float(step - warmup_steps) / float(max(1, total_steps - warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    return base_lr * (min_ratio + max(0.0, (1.0 - min_ratio) * cosine))


def total_train_steps(
    epochs: int, total_groups: int, mean_puzzle_examples: float, global_batch_size: int
) -> int:
    """The reference's estimate of the number of optimizer steps."""
    return int(epochs * total_groups * mean_puzzle_examples / global_batch_size)
