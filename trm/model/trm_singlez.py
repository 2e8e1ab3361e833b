"""TRM with a single latent (the paper's "single z" ablation): the reference's `trm_singlez`.

Follows the reference `models/recursive_reasoning/trm_singlez.py`: no separate answer state y;
one state z (`z_L`, initial value `L_init`) both reasons and answers:

    repeat H_cycles times (gradients only through the last repetition):
        repeat L_cycles times: z = net(z + x)
        z = net(z)
    logits = lm_head(z);  (q_halt, q_continue) = q_head(z[:, 0])

Same network, keys and ACT as the TRM (`trm.model.trm`), minus `H_init`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trm.model.layers import CosSin
from trm.model.trm import TRM


@dataclass
class SingleZInnerCarry:
    """The single latent z [B, total_len, hidden]."""

    z_L: torch.Tensor


class TRMSingleZ(TRM):
    """Single-z TRM; same interface as `trm.model.TRM` (carry, ACT step, predict, loss)."""

    inner_carry_class = SingleZInnerCarry
    init_buffer_names = ("L_init",)

    def latent_recursion(  # type: ignore[override]
        self, z: torch.Tensor, x: torch.Tensor, cos_sin: CosSin | None
    ) -> tuple[torch.Tensor]:
        cfg = self.config
        net = self.L_level
        with torch.no_grad():
            for _ in range(cfg.H_cycles - 1):
                for _ in range(cfg.L_cycles):
                    z = net(z, x, cos_sin)
                z = net(z, None, cos_sin)
        for _ in range(cfg.L_cycles):
            z = net(z, x, cos_sin)
        z = net(z, None, cos_sin)
        return (z,)
