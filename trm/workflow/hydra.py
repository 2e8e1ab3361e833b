"""The experiment's `model` and `train` sections as Hydra overrides of `trm train`.

`trm train` composes config/model/<preset>.yaml and config/train/<preset>.yaml and checks the
overrides against the composed config, so these sections need no declaration here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def hydra_value(value: Any) -> str:
    """A YAML value in Hydra's override syntax (null, true/false, [a,b]; Python's None is not)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(x) for x in value) + "]"
    return str(value)


def hydra_overrides(group: str, settings: Mapping[str, Any]) -> list[str]:
    """{preset: tiny, hidden_size: 64} -> ['model=tiny', 'model.hidden_size=64'].

    The model and train sections are Hydra overrides: `trm train` checks them against the
    composed config, so no table is needed here.
    """
    out = [f"{group}={settings['preset']}"] if "preset" in settings else []
    return out + [f"{group}.{k}={hydra_value(v)}" for k, v in settings.items() if k != "preset"]
