"""The plain-transformer baseline with ACT: the reference's `transformers_baseline`.

Follows the reference `models/recursive_reasoning/transformers_baseline.py` (Model_ACTV2), an
ablation of HRM with no hierarchy and no inner recursion: each ACT step runs one stack of
`H_layers` post-norm transformer blocks on the carried state plus the input,

    z_H = net(z_H, x);   logits = lm_head(z_H);   (q_halt, q_continue) = q_head(z_H[:, 0])

so depth comes only from ACT steps (the paper's "direct prediction" row at halt_max_steps 1).
State-dict names: `H_level.layers.*`, `H_init`, and the shared I/O names.

ACT: with `act_enabled` (default) training halts when q_halt > q_continue, with exploration;
evaluation runs all halt_max_steps unless `act_inference` is set. q_continue is never learned
(the reference computes its target only when asked, and its training never asks).
`H_cycles` is accepted and ignored, as in the reference. Attention heads need not divide
hidden_size (the reference's preset: 512 hidden, 12 heads of 42 features).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from trm.errors import InputError
from trm.model.layers import CosSin
from trm.model.trm import TRM, TRMBlock, TRMConfig, TRMReasoningModule


@dataclass
class TransformerBaselineConfig(TRMConfig):
    """The reference Model_ACTV2 keys; defaults: its config/arch/transformers_baseline.yaml."""

    H_cycles: int = 1  # ignored (kept for compatibility, as in the reference)
    H_layers: int = 8
    num_heads: int = 12
    puzzle_emb_len: int = 0  # not a key here: always ceil(puzzle_emb_ndim / hidden_size)
    no_ACT_continue: bool = False  # not a key here: halting compares q_halt with q_continue
    act_enabled: bool = True  # adaptive halting in training
    act_inference: bool = False  # adaptive halting in evaluation

    REFERENCE_IGNORED_KEYS: ClassVar[tuple[str, ...]] = (
        "L_cycles",
        "L_layers",
        "mlp_t",
        "puzzle_emb_len",
        "no_ACT_continue",
    )
    HEADS_MUST_DIVIDE_HIDDEN: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mlp_t or self.puzzle_emb_len != 0 or self.no_ACT_continue:
            raise InputError(
                "transformers_baseline has no mlp_t / puzzle_emb_len / no_ACT_continue settings"
            )
        if self.pos_encodings == "none":
            # The reference raises NotImplementedError here.
            raise InputError(
                "transformers_baseline: pos_encodings 'none' is not supported (use rope or learned)"
            )
        if self.H_layers < 1:
            raise InputError(f"transformers_baseline: H_layers must be >= 1, got {self.H_layers}")


@dataclass
class TransformerBaselineInnerCarry:
    """The single carried state [B, total_len, hidden]."""

    z_H: torch.Tensor


class TransformerBaseline(TRM):
    """Transformer + ACT; same interface as `trm.model.TRM` (carry, ACT step, predict, loss)."""

    config_class = TransformerBaselineConfig
    inner_carry_class = TransformerBaselineInnerCarry
    init_buffer_names = ("H_init",)
    config: TransformerBaselineConfig

    def build_reasoning_modules(self, config: TRMConfig) -> None:
        self.H_level = TRMReasoningModule([TRMBlock(config) for _ in range(config.H_layers)])
        self.register_init_buffers()

    def latent_recursion(  # type: ignore[override]
        self, z_H: torch.Tensor, x: torch.Tensor, cos_sin: CosSin | None
    ) -> tuple[torch.Tensor]:
        return (self.H_level(z_H, x, cos_sin),)

    def adaptive_halting(self) -> bool:
        cfg = self.config
        wanted = cfg.act_enabled if self.training else cfg.act_inference
        return wanted and cfg.halt_max_steps > 1

    def bootstraps_q_continue(self) -> bool:
        return False
