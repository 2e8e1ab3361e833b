"""Training configuration: Hydra composition of config/train_root.yaml, its checks, and the
config of a new or resumed run (`trm train`).

The train group's YAML files (config/train/) declare the settings and their defaults; the
bounds below are their checks (one line naming `train.<key>`). The model group's presets, and
the reference model config built from them, are trm.model.build's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trm.errors import InputError, UserError
from trm.model.build import config_dir as default_config_dir
from trm.settings import FRACTION, SEED, Range, check_number, count, non_negative, size

ROOT_CONFIG = "train_root"
TRAIN_KEYS_REQUIRED = (
    "global_batch_size",
    "epochs",
    "epochs_per_iter",
    "lr",
    "lr_min_ratio",
    "lr_warmup_steps",
    "beta1",
    "beta2",
    "weight_decay",
    "puzzle_emb_lr",
    "puzzle_emb_weight_decay",
    "ema",
    "ema_rate",
    "seed",
    "checkpoint_every",
)
# Bounds of the train settings. global_batch_size is bounded above: every rank allocates its
# share of it (inputs, activations) at once, so a typo would ask for terabytes.
MAX_GLOBAL_BATCH = 65_536
TRAIN_BOUNDS: dict[str, Range] = {
    "global_batch_size": size(1, MAX_GLOBAL_BATCH),
    "epochs": count(1),
    "epochs_per_iter": count(1),
    "lr": non_negative(),
    "lr_min_ratio": FRACTION,
    "lr_warmup_steps": non_negative(),
    # beta 1 would never update a moment (0/0 in the bias correction)
    "beta1": Range("Adam beta", 0.0, 1.0, max_exclusive=True),
    "beta2": Range("Adam beta", 0.0, 1.0, max_exclusive=True),
    "weight_decay": non_negative(),
    "puzzle_emb_lr": non_negative(),
    "puzzle_emb_weight_decay": non_negative(),
    "ema_rate": FRACTION,
    "seed": SEED,
    "checkpoint_every": count(0),
    "max_steps": count(1),
    "stop_after_steps": count(1),
    "log_every": count(1),
    "cpu_threads": count(1, 4096),
}
WHOLE_NUMBERS = {k for k, r in TRAIN_BOUNDS.items() if r.whole}


def compose_config(
    overrides: list[str] | None = None, config_dir: str | os.PathLike | None = None
) -> DictConfig:
    """Compose config_dir/train_root.yaml with Hydra overrides such as `model=tiny train.lr=3e-4`."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    cdir = Path(config_dir) if config_dir is not None else default_config_dir()
    if not (cdir / f"{ROOT_CONFIG}.yaml").exists():
        raise FileNotFoundError(
            f"Hydra root config not found: {cdir / (ROOT_CONFIG + '.yaml')} (pass --config-dir)"
        )
    try:
        with initialize_config_dir(config_dir=str(cdir.resolve()), version_base=None):
            cfg = compose(config_name=ROOT_CONFIG, overrides=list(overrides or []))
    except (HydraException, OmegaConfBaseException) as e:
        raise InputError(f"bad training config override(s) {list(overrides or [])}: {e}") from e
    validate_config(cfg)
    return cfg


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """Dotted `key=value` overrides on an already-composed config (used with --resume)."""
    for o in overrides:
        key = o.split("=", 1)[0].strip()
        if "=" not in o or not key or key in ("model", "train") or key.startswith(("+", "~")):
            raise InputError(
                f"with --resume only key=value overrides of existing keys are allowed (got {o!r})"
            )
    merged = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    assert isinstance(merged, DictConfig)
    validate_config(merged)
    return merged


def _nonfinite(node: Any, where: str) -> None:
    """Any float anywhere in a section (settings without declared bounds too) must be finite."""
    if isinstance(node, float):
        check_number(where, node)
    elif isinstance(node, dict):
        for k, v in node.items():
            _nonfinite(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _nonfinite(v, f"{where}[{i}]")


def validate_config(cfg: DictConfig) -> None:
    for section in ("model", "train"):
        if section not in cfg:
            raise InputError(f"training config has no '{section}' section")
    missing = [k for k in TRAIN_KEYS_REQUIRED if k not in cfg.train]
    if missing:
        raise InputError(f"training config: train.{missing[0]} is missing (missing: {missing})")
    from trm.model.build import check_model_settings

    t = cfg.train
    for key, bounds in TRAIN_BOUNDS.items():
        value = t.get(key)
        if value is None and key not in TRAIN_KEYS_REQUIRED:
            continue  # an optional setting left at null
        check_number(f"train.{key}", value, bounds)
    for section in ("model", "train"):
        _nonfinite(OmegaConf.to_container(cfg[section], resolve=True), section)
    model = OmegaConf.to_container(cfg.model, resolve=True)
    assert isinstance(model, dict)
    check_model_settings(dict(model), "model")
    if int(t.epochs) % int(t.epochs_per_iter) != 0:
        raise InputError(
            f"train.epochs ({t.epochs}) must be a multiple of train.epochs_per_iter ({t.epochs_per_iter})"
        )
    order = t.get("example_order", "auto")
    if order not in ("auto", "reference", "per_iteration"):
        raise InputError(
            f"train.example_order must be auto, reference or per_iteration, got {order!r}"
        )
    freeze = t.get("freeze")
    if freeze is not None and not isinstance(freeze, str):
        items = OmegaConf.to_container(freeze) if OmegaConf.is_config(freeze) else freeze
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise InputError(f"train.freeze must be a name or a list of names, got {freeze!r}")


def run_config(
    run_dir: Path,
    overrides: list[str],
    *,
    resume: bool,
    config_dir: Path | None = None,
    init_from: Path | None = None,
) -> DictConfig:
    """The config of `trm train`: composed from `overrides` for a new run, or the run's own
    config.yaml with `key=value` overrides for `--resume`. One line for every problem."""
    import yaml

    from trm.train.check import check_overrides, overrides_from_cli

    overrides = list(overrides)
    if init_from is not None:
        if resume:
            raise UserError("--init-from starts a new run; --resume continues from RUN/state.pt")
        path = str(init_from)
        # quoted, so Hydra takes a path with `=`, `,` or spaces as one string
        overrides.append(
            f"train.init_from='{path}'" if "'" not in path else f"train.init_from={path}"
        )
    try:  # every ValueError here is about the user's config (the library predates trm.errors)
        if resume:
            saved = run_dir / "config.yaml"
            if not saved.exists():
                raise UserError(
                    f"--resume: {saved} not found (was {run_dir} written by `trm train`?)"
                )
            cfg = OmegaConf.load(saved)
            assert isinstance(cfg, DictConfig)
            validate_config(cfg)
            return apply_overrides(cfg, overrides)
        if (run_dir / "state.pt").exists():
            raise UserError(
                f"{run_dir} already holds a training state: pass --resume, or choose another --out"
            )
        problems = check_overrides(
            overrides_from_cli(overrides), config_dir or default_config_dir()
        )
        if problems:
            raise InputError(f"bad override(s): {'; '.join(problems)}")
        return compose_config(overrides, config_dir)
    except (ValueError, yaml.YAMLError) as e:
        if isinstance(e, UserError):
            raise
        raise InputError(str(e)) from e
