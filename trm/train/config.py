"""Training configuration: Hydra composition of config/train_root.yaml.

The model group's presets, and the reference model config built from them, are trm.model.build's.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from trm.model.build import config_dir as default_config_dir

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
        raise ValueError(f"bad training config override(s) {list(overrides or [])}: {e}") from e
    validate_config(cfg)
    return cfg


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """Dotted `key=value` overrides on an already-composed config (used with --resume)."""
    for o in overrides:
        key = o.split("=", 1)[0].strip()
        if "=" not in o or not key or key in ("model", "train") or key.startswith(("+", "~")):
            raise ValueError(
                f"with --resume only key=value overrides of existing keys are allowed (got {o!r})"
            )
    merged = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    assert isinstance(merged, DictConfig)
    validate_config(merged)
    return merged


def validate_config(cfg: DictConfig) -> None:
    for section in ("model", "train"):
        if section not in cfg:
            raise ValueError(f"training config has no '{section}' section")
    missing = [k for k in TRAIN_KEYS_REQUIRED if k not in cfg.train]
    if missing:
        raise ValueError(f"training config: train.{missing[0]} is missing (missing: {missing})")
    t = cfg.train
    if int(t.global_batch_size) <= 0:
        raise ValueError(f"train.global_batch_size must be positive, got {t.global_batch_size}")
    if int(t.epochs) % int(t.epochs_per_iter) != 0:
        raise ValueError(
            f"train.epochs ({t.epochs}) must be a multiple of train.epochs_per_iter ({t.epochs_per_iter})"
        )
    for k in ("lr", "puzzle_emb_lr", "weight_decay", "puzzle_emb_weight_decay"):
        if float(t[k]) < 0:
            raise ValueError(f"train.{k} must be >= 0, got {t[k]}")
    order = t.get("example_order", "auto")
    if order not in ("auto", "reference", "per_iteration"):
        raise ValueError(
            f"train.example_order must be auto, reference or per_iteration, got {order!r}"
        )
    freeze = t.get("freeze")
    if freeze is not None and not isinstance(freeze, str):
        items = OmegaConf.to_container(freeze) if OmegaConf.is_config(freeze) else freeze
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise ValueError(f"train.freeze must be a name or a list of names, got {freeze!r}")
