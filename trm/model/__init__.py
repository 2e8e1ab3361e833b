"""The Tiny Recursive Model and the reference's other architectures: configs, models with ACT,
reference-compatible checkpoint loading."""

from __future__ import annotations

from typing import Any

from trm.errors import InputError
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

# The `name` of each architecture in a reference all_config.yaml (`arch: name: ...`).
REFERENCE_NAMES: dict[str, str] = {
    "trm": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    "hrm": "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1",
    "transformers_baseline": "recursive_reasoning.transformers_baseline@Model_ACTV2",
    "trm_singlez": "recursive_reasoning.trm_singlez@TinyRecursiveReasoningModel_ACTV1",
    "trm_hier6": "recursive_reasoning.trm_hier6@TinyRecursiveReasoningModel_ACTV1",
}
# The HRM repository's own name for the code of the published HRM checkpoints.
_OTHER_REFERENCE_MODULES = {"hrm.hrm_act_v1": "hrm"}


def arch_from_reference_name(name: str) -> str:
    """The arch key for a reference config's `arch.name` (e.g. `hrm.hrm_act_v1@...` -> hrm)."""
    module = str(name).split("@", 1)[0]
    if module in _OTHER_REFERENCE_MODULES:
        return _OTHER_REFERENCE_MODULES[module]
    arch = module.removeprefix("recursive_reasoning.")
    if arch not in ARCHITECTURES:
        raise InputError(
            f"arch name {name!r}: unknown model code (known: {sorted(REFERENCE_NAMES.values())})"
        )
    return arch


def from_reference_config(cfg: Any, arch: str = "trm") -> TRM:
    """Build architecture `arch` from its reference model configuration dict.

    Keys the architecture's reference config does not have (`name`, `loss`, another arch's
    keys) are ignored, as the reference does. Every model has the TRM's interface:
    `initial_carry`, one ACT step as `model(carry, batch)`, `load_weights`,
    `trm.infer.predict` and `trm.train.loss_step`.
    """
    if arch not in ARCHITECTURES:
        raise InputError(f"model arch: {arch!r} is not one of {list(ARCHITECTURES)}")
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
    "REFERENCE_NAMES",
    "TransformerBaselineConfig",
    "arch_from_reference_name",
    "from_reference_config",
    "load_weights",
]
