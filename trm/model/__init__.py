"""The Tiny Recursive Model and the reference's other architectures: configs, models with ACT,
reference-compatible checkpoint loading."""

from __future__ import annotations

from typing import Any

from trm.model.checkpoint import LoadReport, load_weights
from trm.model.hrm import HRM, HRMConfig
from trm.model.transformer_baseline import TransformerBaseline, TransformerBaselineConfig
from trm.model.trm import IGNORE_LABEL_ID, TRM, TRMCarry, TRMConfig, TRMInnerCarry
from trm.model.trm_hier6 import Hier6Config, TRMHier6
from trm.model.trm_singlez import TRMSingleZ

# The reference's arch config names (config/arch/<name>.yaml) -> model class.
ARCHITECTURES: dict[str, type[TRM]] = {
    "trm": TRM,
    "hrm": HRM,
    "transformers_baseline": TransformerBaseline,
    "trm_singlez": TRMSingleZ,
    "trm_hier6": TRMHier6,
}


def from_reference_config(cfg: Any, arch: str = "trm") -> TRM:
    """Build architecture `arch` from its reference model configuration dict.

    Keys the architecture's reference config does not have (`name`, `loss`, another arch's
    keys) are ignored, as the reference does. Every model has the TRM's interface:
    `initial_carry`, one ACT step as `model(carry, batch)`, `load_weights`,
    `trm.infer.predict` and `trm.train.loss_step`.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"model arch: {arch!r} is not one of {list(ARCHITECTURES)}")
    return ARCHITECTURES[arch].from_reference_config(cfg)


__all__ = [
    "ARCHITECTURES",
    "HRM",
    "IGNORE_LABEL_ID",
    "TRM",
    "HRMConfig",
    "Hier6Config",
    "LoadReport",
    "TRMCarry",
    "TRMConfig",
    "TRMHier6",
    "TRMInnerCarry",
    "TRMSingleZ",
    "TransformerBaseline",
    "TransformerBaselineConfig",
    "from_reference_config",
    "load_weights",
]
