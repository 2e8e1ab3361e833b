"""Exponential moving average of the trainable parameters (the reference's EMAHelper).

Only parameters are averaged; buffers such as the puzzle-embedding table are taken from the
live model when the EMA copy is made, as in the reference.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """shadow <- mu * shadow + (1 - mu) * param, after every optimizer step."""

    def __init__(self, model: nn.Module, mu: float = 0.999) -> None:
        if not 0.0 <= mu <= 1.0:
            raise ValueError(f"EMA rate must be in [0, 1], got {mu}")
        self.mu = mu
        self.shadow: dict[str, torch.Tensor] = {
            name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, p in model.named_parameters():
            if p.requires_grad:
                s = self.shadow[name]
                # The reference's expression, (1 - mu) * p + mu * s: each product rounded, then
                # the sum. Not `add_(p, alpha=...)`, which fuses (an FMA on CPU) and rounds
                # differently in about 1 % of elements per step.
                s.mul_(self.mu).add_(p.detach() * (1.0 - self.mu))

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        for name, p in model.named_parameters():
            if name in self.shadow:
                p.copy_(self.shadow[name])

    def ema_copy(self, model: nn.Module) -> nn.Module:
        """A deep copy of `model` holding the averaged parameters (the live model is untouched)."""
        clone = copy.deepcopy(model)
        self.copy_to(clone)
        return clone

    def state_dict(self) -> dict:
        return {"mu": self.mu, "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        missing = set(self.shadow) - set(state["shadow"])
        if missing:
            raise ValueError(f"EMA state is missing parameter(s) {sorted(missing)[:5]}")
        self.mu = float(state["mu"])
        for k, v in state["shadow"].items():
            if k in self.shadow:
                self.shadow[k].copy_(v)
