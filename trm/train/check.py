"""Check a workflow experiment's `model:` and `train:` overrides against the real Hydra config.

The workflow calls this at start-up (rules/common.smk), so a typo (`max_stpes`), an unknown
preset (`tinyy`) or a wrong type (`hidden_size: sixty`) is named with the experiment and key
before any job runs, instead of failing inside the training job minutes later.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from trm.utils import write_json

GROUPS: tuple[str, ...] = ("model", "train")


def presets(config_dir: str | os.PathLike, group: str) -> list[str]:
    """The presets of a Hydra group: the YAML files in config/<group>/."""
    return sorted(p.stem for p in (Path(config_dir) / group).glob("*.yaml"))


@lru_cache(maxsize=16)
def _composed_defaults(
    config_dir: str, choices: tuple[str, ...], cache_dir: str | None = None
) -> dict[str, Any]:
    """The composed config for these preset choices (one Hydra compose per distinct pair).

    With `cache_dir`, the result is kept in a JSON file keyed by the content of every config
    YAML, so later start-ups skip importing Hydra (~0.7 s) until a config file changes.
    """
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"hydra-defaults-{_config_key(config_dir, choices)}.json"
        try:
            with open(cache_file) as f:
                cached = json.load(f)
            if isinstance(cached, dict):
                return cached
        except (OSError, ValueError):
            pass
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(config_name="train_root", overrides=list(choices))
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    if cache_file is not None:
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
            write_json(cache_file, container, indent=None)
    return container


def _config_key(config_dir: str, choices: tuple[str, ...]) -> str:
    h = hashlib.sha256(repr(choices).encode())
    for path in sorted(Path(config_dir).rglob("*.yaml")):
        h.update(str(path.relative_to(config_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


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
    overrides: dict[str, dict[str, Any]],
    config_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
) -> list[str]:
    """Problems in {"model": {...}, "train": {...}}, one line each, naming `<group>.<key>`.

    cache_dir: where to keep composed defaults between runs (see `_composed_defaults`).
    """
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
    defaults = _composed_defaults(
        config_dir, tuple(choices), None if cache_dir is None else str(cache_dir)
    )
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
                why = _type_problem(f"{group}.{key}", value, node) or _bounds_problem(
                    group, key, value
                )
                if why:
                    problems.append(why)
    return problems


def composed_value(
    overrides: dict[str, dict[str, Any]],
    config_dir: str | os.PathLike,
    key: str,
    cache_dir: str | os.PathLike | None = None,
) -> Any:
    """The value `<group>.<key>` (e.g. "train.keep_step_weights") takes for these overrides: the
    override, else its preset's. Call after `check_overrides` found no problem."""
    group, _, name = key.partition(".")
    if name in overrides.get(group, {}):
        return overrides[group][name]
    choices = tuple(
        f"{g}={overrides[g]['preset']}" for g in GROUPS if "preset" in overrides.get(g, {})
    )
    config_dir = str(Path(config_dir).resolve())
    defaults = _composed_defaults(
        config_dir, choices, None if cache_dir is None else str(cache_dir)
    )
    return defaults.get(group, {}).get(name)


def _bounds_problem(group: str, key: str, value: Any) -> str | None:
    """Why `value` is outside the bounds `trm train` checks (the same Range objects), or not
    finite; None when it is fine."""
    from trm.errors import InputError
    from trm.model.build import MODEL_BOUNDS
    from trm.settings import check_number
    from trm.train.config import TRAIN_BOUNDS

    bounds = (MODEL_BOUNDS if group == "model" else TRAIN_BOUNDS).get(key)
    try:
        if bounds is not None and value is not None:
            check_number(f"{group}.{key}", value, bounds)
        elif isinstance(value, float):
            check_number(f"{group}.{key}", value)
    except InputError as e:
        return str(e)
    return None


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
