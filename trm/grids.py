"""Ablation grids as configuration: an experiment with `variants:` becomes one experiment per
variant, named `<grid>.<variant>`, before the workflow builds its DAG.

    experiments:
      sudoku-ablations:
        dataset: {...}
        model: {preset: sudoku_mlp}
        train: {...}
        variants:                    # the first one is the base the others are compared with
          trm-mlp: {}
          no-ema: {train: {ema: false}}
        paper: {trm-mlp: 87.4, no-ema: 79.9}   # the paper's figures, percent

Each variant is the grid's settings deep-merged with its override (mappings merge key by key,
anything else is replaced), so a variant is validated exactly like an ordinary experiment and
its jobs read only its own settings: changing one variant's override reruns that variant only.
Variants share the dataset (same settings, same name) and, when a variant differs from an
earlier one only in evaluation settings, that variant's trained checkpoint.

A variant trained on another dataset can be evaluated on the base variant's test split with
`predict: {dataset: base}` (resolved here to the base's dataset name; `trm predict
--puzzle-ids-from` maps the test puzzles to the training dataset's identifiers by name), so every
variant is scored on the same test examples: e.g. training at num_aug 0 against 1000.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trm.errors import UserError

VARIANTS_KEY = "variants"
PAPER_KEY = "paper"
BASE_KEY = "base"
GRID_KEYS = (VARIANTS_KEY, PAPER_KEY, BASE_KEY)
EVAL_BASE = "base"  # predict.dataset: evaluate on the base variant's dataset
SEPARATOR = "."  # experiment name of a variant: <grid>.<variant>
VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

# Settings that decide the trained weights: variants equal on all of these share one training.
TRAINING_KEYS = ("dataset", "model", "train", "checkpoint", "gpus")


class GridConfigError(UserError):
    """An experiment's `variants:` / `paper:` settings are inconsistent."""


@dataclass
class Grid:
    """One ablation grid: its variants in order (the first, or `base:`, is the base)."""

    name: str
    base: str
    variants: list[str]
    experiments: dict[str, str]  # variant -> experiment name
    changes: dict[str, str]  # variant -> what its override changes, e.g. "train.ema=false"
    paper: dict[str, float] = field(default_factory=dict)  # variant -> the paper's figure, %
    train_of: dict[str, str] = field(default_factory=dict)  # experiment -> experiment it trains

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base": self.base,
            "variants": list(self.variants),
            "experiments": dict(self.experiments),
            "changes": dict(self.changes),
            "paper": dict(self.paper),
        }


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` on top: mappings merge key by key, other values are replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in settings.items():
        if isinstance(value, Mapping) and value:
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)


def describe_override(override: Mapping[str, Any]) -> str:
    """What a variant changes, from its override: `model.preset=hrm, train.ema=false`."""
    items = [(k, v) for k, v in _flatten(override) if k != "description"]
    return ", ".join(f"{k}={_show(v)}" for k, v in items) if items else "(base settings)"


def _variant_errors(grid: str, exp: Mapping[str, Any]) -> list[str]:
    errors = []
    variants = exp.get(VARIANTS_KEY)
    where = f"experiments.{grid}"
    if not isinstance(variants, Mapping) or not variants:
        return [f"{where}.{VARIANTS_KEY}: expected a mapping variant name -> override"]
    for name, override in variants.items():
        if not VARIANT_NAME.match(str(name)):
            errors.append(
                f"{where}.{VARIANTS_KEY}.{name}: a variant name is letters, digits, '_' and '-'"
            )
        if override is not None and not isinstance(override, Mapping):
            errors.append(f"{where}.{VARIANTS_KEY}.{name}: expected a mapping of overrides")
    for key in (PAPER_KEY,):
        unknown = sorted(set(exp.get(key) or {}) - set(variants))
        if unknown:
            errors.append(f"{where}.{key}: {unknown} are not variants ({', '.join(variants)})")
    base = exp.get(BASE_KEY)
    if base is not None and base not in variants:
        errors.append(f"{where}.{BASE_KEY}: {base!r} is not a variant ({', '.join(variants)})")
    return errors


def expand_grids(config: dict[str, Any]) -> dict[str, Grid]:
    """Replace every grid experiment in config['experiments'] (and its name in config['run'])
    by one experiment per variant; return the grids by name. Edits `config` in place."""
    experiments: dict[str, Any] = config["experiments"]
    grids: dict[str, Grid] = {}
    errors: list[str] = []
    expanded: dict[str, Any] = {}
    for name, exp in experiments.items():
        if VARIANTS_KEY not in exp:
            expanded[name] = exp
            continue
        problems = _variant_errors(name, exp)
        if problems:
            errors += problems
            continue
        settings = {k: v for k, v in exp.items() if k not in GRID_KEYS}
        variants = list(exp[VARIANTS_KEY])
        base = exp.get(BASE_KEY) or variants[0]
        grid = Grid(
            name=name,
            base=base,
            variants=[base] + [v for v in variants if v != base],
            experiments={},
            changes={},
            paper={k: float(v) for k, v in (exp.get(PAPER_KEY) or {}).items()},
        )
        trainers: list[tuple[str, dict[str, Any]]] = []  # (experiment, its training settings)
        base_dataset = None
        for variant in grid.variants:
            override = exp[VARIANTS_KEY][variant] or {}
            exp_name = f"{name}{SEPARATOR}{variant}"
            if exp_name in experiments:
                errors.append(
                    f"experiments.{exp_name}: also the name of variant {variant!r} of grid "
                    f"{name!r}; rename one"
                )
                continue
            merged = deep_merge(settings, override)
            merged["description"] = (
                f"{settings.get('description', name)} [variant {variant}: "
                f"{describe_override(override)}]"
            )
            dataset_name = (merged.get("dataset") or {}).get("name")
            base_dataset = dataset_name if variant == grid.base else base_dataset
            predict = merged.get("predict")
            if isinstance(predict, dict) and predict.get("dataset") == EVAL_BASE:
                predict["dataset"] = base_dataset  # the base variant is expanded first
            grid.experiments[variant] = exp_name
            grid.changes[variant] = describe_override(override)
            expanded[exp_name] = merged
            if "train" in merged:
                training = {k: merged.get(k) for k in TRAINING_KEYS}
                same = next((e for e, t in trainers if t == training), None)
                if same is None:
                    trainers.append((exp_name, training))
                else:
                    grid.train_of[exp_name] = same  # differs only in evaluation settings
        grids[name] = grid
    if errors:
        raise GridConfigError("invalid grid configuration:\n  " + "\n  ".join(errors))
    config["experiments"] = expanded
    run: list[str] = []
    for name in config.get("run", []):
        run += list(grids[name].experiments.values()) if name in grids else [name]
    config["run"] = run
    return grids
