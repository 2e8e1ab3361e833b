"""The reference ACT loss (`models/losses.py` ACTLossHead) as functions.

    lm_loss  = sum over sequences of (CE over labelled cells) / (number of labelled cells)
    halt     = BCE(q_halt, sequence exactly right), summed
    continue = BCE(q_continue, target_q_continue), summed (only when the model bootstraps it)
    loss     = lm_loss + 0.5 * (halt + continue)

Stablemax cross-entropy runs in float64, as the reference does (float32 on MPS).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from trm.errors import InputError
from trm.model.trm import IGNORE_LABEL_ID, TRMCarry

LossFn = Callable[..., torch.Tensor]


def _stablemax_s(x: torch.Tensor, epsilon: float = 1e-30) -> torch.Tensor:
    return torch.where(x < 0, 1 / (1 - x + epsilon), x + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s_x = _stablemax_s(x)
    return torch.log(s_x / torch.sum(s_x, dim=dim, keepdim=True))


def stablemax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID
) -> torch.Tensor:
    """Per-cell stablemax CE (0 where ignored), computed in float64 (float32 on MPS)."""
    dtype = torch.float32 if logits.device.type == "mps" else torch.float64
    logprobs = log_stablemax(logits.to(dtype), dim=-1)
    valid = labels != ignore_index
    safe_labels = torch.where(valid, labels, 0).to(torch.long)
    picked = torch.gather(logprobs, index=safe_labels.unsqueeze(-1), dim=-1).squeeze(-1)
    return -torch.where(valid, picked, 0)


def softmax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID
) -> torch.Tensor:
    """Per-cell softmax CE in float32 (0 where ignored)."""
    return F.cross_entropy(
        logits.to(torch.float32).reshape(-1, logits.shape[-1]),
        labels.to(torch.long).reshape(-1),
        ignore_index=ignore_index,
        reduction="none",
    ).view(labels.shape)


LOSS_FUNCTIONS: dict[str, LossFn] = {
    "stablemax_cross_entropy": stablemax_cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
}


def get_loss_fn(loss_type: str) -> LossFn:
    # The reference config names the loss as `losses@stablemax_cross_entropy`.
    name = loss_type.split("@")[-1]
    if name not in LOSS_FUNCTIONS:
        raise InputError(f"model.loss_type: {loss_type!r} is not one of {sorted(LOSS_FUNCTIONS)}")
    return LOSS_FUNCTIONS[name]


def act_loss(
    outputs: dict[str, torch.Tensor],
    carry: TRMCarry,
    loss_type: str = "stablemax_cross_entropy",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The reference loss and metrics for one ACT step's `outputs` and the carry it returned.

    Metrics (summed over the batch, counting only halted sequences with labels): count,
    accuracy (per-sequence cell accuracy, summed), exact_accuracy, q_halt_accuracy, steps;
    and lm_loss, q_halt_loss, q_continue_loss (0 when not bootstrapped) over the whole batch.
    """
    loss_fn = get_loss_fn(loss_type)
    labels = carry.current_data["labels"]
    logits = outputs["logits"]
    q_halt = outputs["q_halt_logits"]
    with torch.no_grad():
        mask = labels != IGNORE_LABEL_ID
        loss_counts = mask.sum(-1)
        loss_divisor = loss_counts.clamp_min(1).unsqueeze(-1)  # no NaN for unlabelled rows
        is_correct = mask & (torch.argmax(logits, dim=-1) == labels)
        seq_is_correct = is_correct.sum(-1) == loss_counts
        valid = carry.halted & (loss_counts > 0)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(
                valid, (is_correct.to(torch.float32) / loss_divisor).sum(-1), 0
            ).sum(),
            "exact_accuracy": (valid & seq_is_correct).sum(),
            "q_halt_accuracy": (valid & ((q_halt >= 0) == seq_is_correct)).sum(),
            "steps": torch.where(valid, carry.steps, 0).sum(),
        }

    lm_loss = (loss_fn(logits, labels, ignore_index=IGNORE_LABEL_ID) / loss_divisor).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(
        q_halt, seq_is_correct.to(q_halt.dtype), reduction="sum"
    )
    q_continue_loss: torch.Tensor = torch.zeros((), device=q_halt.device)
    if "target_q_continue" in outputs:
        q_continue_loss = F.binary_cross_entropy_with_logits(
            outputs["q_continue_logits"], outputs["target_q_continue"], reduction="sum"
        )
    metrics.update(
        lm_loss=lm_loss.detach(),
        q_halt_loss=q_halt_loss.detach(),
        q_continue_loss=q_continue_loss.detach(),
    )
    return lm_loss + 0.5 * (q_halt_loss + q_continue_loss), metrics


def loss_step(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    carry: TRMCarry | None = None,
    loss_type: str = "stablemax_cross_entropy",
) -> tuple[torch.Tensor, dict[str, torch.Tensor], TRMCarry]:
    """One ACT step (call `model.train()` first for training) and its reference loss.

    `carry=None` starts from `model.initial_carry(batch)`. Returns (loss, metrics, new carry);
    `new_carry.halted.all()` is the reference's "all finished" flag. The batch must hold
    `labels` (IGNORE_LABEL_ID = -100 for cells without a label).
    """
    if "labels" not in batch:
        raise ValueError("loss_step: the batch has no 'labels' (needed for the loss)")
    if carry is None:
        carry = model.initial_carry(batch)
    new_carry, outputs = model(carry, batch)
    loss, metrics = act_loss(outputs, new_carry, loss_type)
    return loss, metrics, new_carry
