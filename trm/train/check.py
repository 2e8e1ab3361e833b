"""Check a workflow experiment's `model:` and `train:` overrides against the real Hydra config.

The workflow calls this at start-up (rules/common.smk), so a typo (`max_stpes`), an unknown
preset (`tinyy`) or a wrong type (`hidden_size: sixty`) is named with the experiment and key
before any job runs, instead of failing inside the training job minutes later.
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

GROUPS: tuple[str, ...] = ("model", "train")


def presets(config_dir: str | os.PathLike, group: str) -> list[str]:
    """The presets of a Hydra group: the YAML files in config/<group>/."""
    return sorted(p.stem for p in (Path(config_dir) / group).glob("*.yaml"))


@lru_cache(maxsize=16)
def _composed_defaults(config_dir: str, choices: tuple[str, ...]) -> dict[str, Any]:
    # One Hydra compose per distinct preset pair: the defaults every override is checked against.
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(config_name="train_root", overrides=list(choices))
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return container


def _type_problem(key: str, value: Any, default: Any) -> str | None:
    """Why `value` cannot replace `default` (None: it can). null keeps or clears any setting."""
    if value is None or default is None:
        return None
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, want = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, want = isinstance(value, str), "a string"
    elif isinstance(default, list):
        ok, want = isinstance(value, list), "a list"
    else:
        return None
    if ok:
        return None
    return f"{key} must be {want} (default {default!r}), got {value!r}"


def check_overrides(
    overrides: dict[str, dict[str, Any]], config_dir: str | os.PathLike
) -> list[str]:
    """Problems in {"model": {...}, "train": {...}}, one line each, naming `<group>.<key>`."""
    config_dir = str(Path(config_dir).resolve())
    problems: list[str] = []
    choices = []
    for group in GROUPS:
        preset = overrides.get(group, {}).get("preset")
        if preset is None:
            continue
        known = presets(config_dir, group)
        if str(preset) not in known:
            problems.append(
                f"{group}.preset: {preset!r} is not a preset (config/{group}/*.yaml: "
                f"{', '.join(known)})"
            )
        else:
            choices.append(f"{group}={preset}")
    if problems:
        return problems  # the other checks need the presets
    defaults = _composed_defaults(config_dir, tuple(choices))
    for group in GROUPS:
        section = defaults.get(group, {})
        for key, value in overrides.get(group, {}).items():
            if key == "preset":
                continue
            node: Any = section
            for part in key.split("."):
                if not isinstance(node, dict) or part not in node:
                    close = difflib.get_close_matches(
                        part, list(node) if isinstance(node, dict) else [], n=1
                    )
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    problems.append(f"{group}.{key}: unknown key{hint}")
                    break
                node = node[part]
            else:
                why = _type_problem(f"{group}.{key}", value, node)
                if why:
                    problems.append(why)
    return problems


def overrides_from_cli(overrides: list[str]) -> dict[str, dict[str, Any]]:
    """`model=tiny train.lr=3e-4` -> {"model": {"preset": "tiny"}, "train": {"lr": 0.0003}}.

    Parsed by Hydra's own override parser; only plain `group=preset` and `group.key=value` are
    taken (appends, deletions, sweeps and syntax errors are left to Hydra's compose).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    out: dict[str, dict[str, Any]] = {}
    for item in overrides:
        try:
            (override,) = parser.parse_overrides([item])
        except HydraException:
            continue
        if override.is_add() or override.is_delete() or override.is_sweep_override():
            continue
        group, _, rest = override.key_or_group.partition(".")
        if group not in GROUPS or override.package:
            continue
        value = override.value()
        out.setdefault(group, {})["preset" if not rest else rest] = value
    return out
