"""TRM with multi-scale latents (the paper's "multi-scale z" ablation): the reference's
`trm_hier6`.

Follows the reference `models/recursive_reasoning/trm_hier6.py`: the latent z is split into
six states z_1..z_6 (initial values `L1_init`..`L6_init`); the network reads their sum, and
the i-th update of an H cycle writes z_i:

    repeat H_cycles times (gradients only through the last repetition):
        for i in 1..L_cycles: z_i = net(z_1 + ... + z_6, y + x)
        y = net(y, z_1 + ... + z_6)
    logits = lm_head(y);  (q_halt, q_continue) = q_head(y[:, 0])

So L_cycles is at most 6. Same network, keys and ACT as the TRM (`trm.model.trm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trm.errors import InputError
from trm.model.trm import TRM, TRMConfig

NUM_LATENTS = 6


@dataclass
class Hier6Config(TRMConfig):
    """The TRM keys; the i-th L cycle writes latent i, so L_cycles <= 6."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.L_cycles > NUM_LATENTS:
            raise InputError(
                f"trm_hier6: L_cycles {self.L_cycles} > {NUM_LATENTS} (one latent per L cycle)"
            )


@dataclass
class Hier6InnerCarry:
    """The answer y (`z_H`) and the six latents, each [B, total_len, hidden]."""

    z_H: torch.Tensor
    z_L1: torch.Tensor
    z_L2: torch.Tensor
    z_L3: torch.Tensor
    z_L4: torch.Tensor
    z_L5: torch.Tensor
    z_L6: torch.Tensor


def _latent_sum(zs: list[torch.Tensor]) -> torch.Tensor:
    # Left to right, as the reference adds them (float addition order matters).
    total = zs[0]
    for z in zs[1:]:
        total = total + z
    return total


class TRMHier6(TRM):
    """Multi-scale-z TRM; same interface as `trm.model.TRM` (carry, ACT step, predict, loss)."""

    config_class = Hier6Config
    inner_carry_class = Hier6InnerCarry
    init_buffer_names = ("H_init", *(f"L{i}_init" for i in range(1, NUM_LATENTS + 1)))

    def latent_recursion(  # type: ignore[override]
        self, z_H: torch.Tensor, *rest: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        # Signature (z_H, z_L1..z_L6, x, cos_sin), like TRM's (z_H, z_L, x, cos_sin).
        *latents, x, cos_sin = rest
        zs = list(latents)
        cfg = self.config
        net = self.L_level

        def h_cycle(z_H: torch.Tensor) -> torch.Tensor:
            injection = z_H + x  # constant over the L cycles
            for i in range(cfg.L_cycles):
                zs[i] = net(_latent_sum(zs), injection, cos_sin)
            return net(z_H, _latent_sum(zs), cos_sin)

        with torch.no_grad():
            for _ in range(cfg.H_cycles - 1):
                z_H = h_cycle(z_H)
        z_H = h_cycle(z_H)
        return (z_H, *zs)
