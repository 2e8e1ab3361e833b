"""The Tiny Recursive Model: config, model with ACT, reference-compatible checkpoint loading."""

from trm.model.checkpoint import LoadReport, load_weights
from trm.model.trm import IGNORE_LABEL_ID, TRM, TRMCarry, TRMConfig, TRMInnerCarry

__all__ = [
    "IGNORE_LABEL_ID",
    "TRM",
    "LoadReport",
    "TRMCarry",
    "TRMConfig",
    "TRMInnerCarry",
    "load_weights",
]
