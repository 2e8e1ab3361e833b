"""Finite or nothing: training stops at the first non-finite loss or weights, saving nothing.

A diverged run (a learning rate far too high, a bad override) used to carry on with NaN weights
and write them as its final checkpoint, which then scored 0 % without a word. The trainers
(`trm train`, `trm adapt`, `trm llm train`) call these checks after every step and before every
save; the first failure raises `NonFiniteError` naming the step and what is not finite, and the
trainer writes nothing more (no final.json, no new step_N, no state of that step).

The checks only read values the step already computed (the per-step loss is synchronised for
the metrics anyway), so they change no result: a finite run is bit-identical with or without
them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch

from trm.errors import UserError

ADVICE = "lower the learning rate (train.lr, --lr) or check the overrides and the data"


class NonFiniteError(UserError):
    """A loss or weights stopped being finite: training stopped at that step."""


def nonfinite_count(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """How many of `tensors` hold a NaN or an infinity, as a 0-d tensor on their device (no
    synchronisation: it can ride along with the step's metrics). One fused kernel per device."""
    if not tensors:
        return torch.zeros(())
    norms = torch._foreach_norm([t.detach() for t in tensors], float("inf"))  # max |x|: NaN stays
    return (~torch.isfinite(torch.stack([n.float() for n in norms]))).sum()


def first_nonfinite(named: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first tensor holding a NaN or an infinity, else None."""
    for name, t in named:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


def check_losses(step: int, losses: Mapping[str, float | None], who: str = "") -> None:
    """Stop at a non-finite loss: one line naming the step and the value."""
    for key, value in losses.items():
        if value is None or not math.isfinite(value):
            raise NonFiniteError(
                f"{who}step {step}: {key} is {value} (not finite): training stopped, nothing of "
                f"this step was saved; {ADVICE}"
            )


def check_weights(step: int, named: Iterable[tuple[str, torch.Tensor]], who: str = "") -> None:
    """Stop before saving weights that are not finite, naming the tensor."""
    bad = first_nonfinite(named)
    if bad is not None:
        raise NonFiniteError(
            f"{who}step {step}: weights {bad!r} are not finite after the update: training "
            f"stopped, nothing of this step was saved; {ADVICE}"
        )
