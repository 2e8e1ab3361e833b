"""The Hierarchical Reasoning Model (HRM), the baseline the TRM paper compares against.

Follows the reference `models/recursive_reasoning/hrm.py` (HierarchicalReasoningModel_ACTV1),
the code of the published HRM checkpoints: same state-dict names (`H_level.layers.*`,
`L_level.layers.*`, `H_init`, `L_init`, ...), same outputs. Two networks instead of TRM's one:

    x = embed(inputs) (with the puzzle embedding prepended)
    repeat H_cycles times:
        repeat L_cycles times: z_L = L_net(z_L, z_H + x)     (the fast, low level)
        z_H = H_net(z_H, z_L)                                 (the slow, high level)
    logits = lm_head(z_H);  (q_halt, q_continue) = q_head(z_H[:, 0])

Gradients flow only through the last L update and the last H update (HRM's "one-step
gradient"; TRM back-propagates through the whole last H cycle instead). ACT halts in training
when q_halt > q_continue and always learns q_continue from a bootstrapped target (TRM's
`no_ACT_continue: false`). The puzzle embedding takes ceil(puzzle_emb_ndim / hidden_size)
positions (HRM has no `puzzle_emb_len`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from trm.errors import InputError
from trm.model.layers import CosSin
from trm.model.trm import TRM, TRMBlock, TRMConfig, TRMInnerCarry, TRMReasoningModule


@dataclass
class HRMConfig(TRMConfig):
    """The reference HRM keys; defaults: its config/arch/hrm.yaml."""

    H_cycles: int = 2
    L_cycles: int = 2
    H_layers: int = 4
    L_layers: int = 4
    puzzle_emb_len: int = 0  # not an HRM key: always ceil(puzzle_emb_ndim / hidden_size)
    no_ACT_continue: bool = False  # not an HRM key: HRM always learns q_continue

    REFERENCE_IGNORED_KEYS: ClassVar[tuple[str, ...]] = ("puzzle_emb_len", "no_ACT_continue")
    HEADS_MUST_DIVIDE_HIDDEN: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.puzzle_emb_len != 0 or self.no_ACT_continue:
            raise InputError(
                "HRM has no puzzle_emb_len / no_ACT_continue settings (leave them at 0 / false)"
            )
        for name in ("H_layers", "L_layers"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"HRM: {name} must be >= 1, got {getattr(self, name)}")


class HRM(TRM):
    """HRM with ACT; same interface as `trm.model.TRM` (carry, ACT step, predict, loss)."""

    config_class = HRMConfig
    inner_carry_class = TRMInnerCarry  # (z_H, z_L)
    init_buffer_names = ("H_init", "L_init")

    def build_reasoning_modules(self, config: TRMConfig) -> None:
        self.H_level = TRMReasoningModule([TRMBlock(config) for _ in range(config.H_layers)])
        self.L_level = TRMReasoningModule([TRMBlock(config) for _ in range(config.L_layers)])
        self.register_init_buffers()

    def latent_recursion(
        self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, cos_sin: CosSin | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """H_cycles x (L_cycles low-level updates, one high-level update); one-step gradient."""
        cfg = self.config
        with torch.no_grad():
            for h in range(cfg.H_cycles):
                last_cycle = h == cfg.H_cycles - 1
                # The very last L and H updates run below, with gradients.
                for _ in range(cfg.L_cycles - 1 if last_cycle else cfg.L_cycles):
                    z_L = self.L_level(z_L, z_H + x, cos_sin)
                if not last_cycle:
                    z_H = self.H_level(z_H, z_L, cos_sin)
        z_L = self.L_level(z_L, z_H + x, cos_sin)
        z_H = self.H_level(z_H, z_L, cos_sin)
        return z_H, z_L
