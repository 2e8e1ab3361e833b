"""Building a model: presets, overrides, dtype, and "the model for this dataset/checkpoint".

The ONLY place models are built. Train, predict, bench and the workflow adapters call it.

A preset is a Hydra YAML under config/model/ (`tiny`, `arc_paper`, ...); the same file is read
here with plain YAML (its `defaults:` list and `${.key}` interpolations resolved), so `--arch
tiny`, Hydra `model=tiny` and the workflow's `model: {preset: tiny}` are the same network.
The reference model config is layered: preset < the checkpoint's saved `arch:` settings <
`--arch-override key=value` < what the dataset fixes (seq_len, vocab_size, puzzle identifiers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trm.errors import UserError
from trm.limits import MODEL_BOUNDS, check_model_settings  # noqa: F401 (MODEL_BOUNDS re-exported)
from trm.presets import MODEL_GROUP, config_dir, preset_names

if TYPE_CHECKING:
    from torch import nn

    from trm.data.format import DatasetMetadata

# Keys of a model preset that are not part of the reference model config dict.
NON_MODEL_KEYS = ("loss_type",)
# Earlier names of presets, still accepted on the command line.
PRESET_ALIASES = {"paper-arc": "arc_paper"}
FORWARD_DTYPES = ("auto", "float32", "bfloat16", "float16")


class ModelConfigError(UserError, ValueError):
    """A preset, override or dtype that does not give a model (a ValueError for older callers)."""


# The key of a model preset (and of the config dicts built here) naming the architecture: one
# of trm.model.ARCHITECTURES (the reference's arch config names); absent means "trm".
ARCH_KEY = "arch"


# --------------------------------------------------------------------------------------------
# Presets: config/model/<name>.yaml
# --------------------------------------------------------------------------------------------


def _read_group_file(folder: Path, name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    """One group file merged with the files its `defaults:` list names (Hydra's order)."""
    import yaml

    path = folder / f"{name}.yaml"
    if name in seen:
        raise ModelConfigError(f"{path}: `defaults` cycle {' -> '.join((*seen, name))}")
    if not path.is_file():
        raise ModelConfigError(
            f"unknown model preset {name!r}; choose from {preset_names(folder.parent)}"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ModelConfigError(f"{path}: malformed YAML ({e})") from e
    if not isinstance(raw, dict):
        raise ModelConfigError(f"{path}: expected a mapping of model settings")
    defaults = raw.pop("defaults", ["_self_"])
    if "_self_" not in defaults:
        defaults = [*defaults, "_self_"]  # Hydra's default: the file's own keys win
    merged: dict[str, Any] = {}
    for entry in defaults:
        if entry == "_self_":
            merged.update(raw)
        elif isinstance(entry, str):
            merged.update(_read_group_file(folder, entry, (*seen, name)))
        else:
            raise ModelConfigError(f"{path}: defaults entry {entry!r} is not a preset name")
    return merged


def load_preset(
    name: str,
    root: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings of config/model/<name>.yaml without Hydra. `overrides` replace keys before
    interpolations are resolved, as Hydra's `model.key=value` does (`puzzle_emb_ndim:
    ${.hidden_size}` follows an overridden hidden_size)."""
    from omegaconf import OmegaConf

    name = PRESET_ALIASES.get(name, name)
    merged = _read_group_file(Path(root or config_dir()) / MODEL_GROUP, name, ())
    merged.update(overrides or {})
    resolved = OmegaConf.to_container(OmegaConf.create(merged), resolve=True)
    assert isinstance(resolved, dict)
    return {str(k): v for k, v in resolved.items()}


def model_settings(group: Mapping[str, Any]) -> dict[str, Any]:
    """A model group (a preset, Hydra's cfg.model) as reference config keys."""
    from omegaconf import DictConfig, OmegaConf

    raw = OmegaConf.to_container(group, resolve=True) if isinstance(group, DictConfig) else group
    return {str(k): v for k, v in dict(raw).items() if k not in NON_MODEL_KEYS}


def parse_overrides(items: Sequence[str] | Mapping[str, str] | None) -> dict[str, Any]:
    """`key=value` strings (or --arch-override's KEY -> VALUE mapping), values parsed as YAML
    scalars (3 -> int, true -> bool, 1e-5 -> float)."""
    import yaml

    if isinstance(items, Mapping):
        items = [f"{k}={v}" for k, v in items.items()]
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ModelConfigError(f"--arch-override {item!r}: expected key=value")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError as e:
            raise ModelConfigError(f"--arch-override {item!r}: not a YAML value ({e})") from e
    return check_model_settings(out, "--arch-override", " ")


# --------------------------------------------------------------------------------------------
# The reference config dict
# --------------------------------------------------------------------------------------------


def resolve_forward_dtype(requested: str | None, device: str, saved: str | None = None) -> str:
    """The compute dtype. An explicit `requested` dtype wins. 'auto': float32 on a CPU (bfloat16
    matmuls are slow there); on a GPU the dtype `saved` with the checkpoint when it names one,
    else bfloat16 (the reference's)."""
    requested = requested or "auto"
    if requested not in FORWARD_DTYPES:
        raise ModelConfigError(f"--dtype {requested!r}: choose {', '.join(FORWARD_DTYPES)}")
    if requested != "auto":
        return requested
    if str(device).split(":")[0] == "cpu":
        return "float32"
    return saved if saved not in (None, "auto") else "bfloat16"


def model_config(
    saved: dict[str, Any] | None,
    seq_len: int,
    vocab_size: int,
    num_puzzle_identifiers: int,
    batch_size: int = 1,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    forward_dtype: str | None = None,
) -> dict[str, Any]:
    """The reference model config dict: preset < saved settings < overrides < dataset shape.

    The preset's interpolations see the saved settings and overrides (as Hydra's do);
    `forward_dtype` (already resolved) replaces the layered one when given.
    """
    if saved is None and preset is None and not overrides:
        raise ModelConfigError(
            "the checkpoint has no all_config.yaml beside it, so the model shape is unknown: pass "
            f"--arch {{{','.join(preset_names())}}} and/or --arch-override key=value "
            "(hidden_size, H_cycles, L_cycles, L_layers, num_heads, ...)"
        )
    cfg: dict[str, Any] = {}
    if preset is not None:
        try:
            cfg.update(
                model_settings(
                    load_preset(preset, overrides={**(saved or {}), **(overrides or {})})
                )
            )
        except ModelConfigError as e:
            if PRESET_ALIASES.get(preset, preset) in preset_names():
                raise
            raise ModelConfigError(
                f"unknown --arch {preset!r}; choose from {preset_names()}"
            ) from e
    check_model_settings(dict(overrides or {}), "--arch-override", " ")
    cfg.update(saved or {})
    cfg.update(overrides or {})
    check_model_settings(dict(cfg), "model setting", " ")
    cfg.update(
        seq_len=int(seq_len),
        vocab_size=int(vocab_size),
        num_puzzle_identifiers=int(num_puzzle_identifiers),
        batch_size=int(batch_size),
    )
    if forward_dtype is not None:
        cfg["forward_dtype"] = forward_dtype
    cfg.setdefault("halt_exploration_prob", 0.0)
    return cfg


def train_model_config(
    group: Mapping[str, Any], meta: DatasetMetadata, local_batch_size: int, device: str
) -> dict[str, Any]:
    """The reference config for training: the composed model group plus what the dataset fixes,
    with 'auto' dtype resolved for `device`."""
    cfg = model_settings(group)
    cfg.update(
        batch_size=int(local_batch_size),
        seq_len=int(meta.seq_len),
        vocab_size=int(meta.vocab_size),
        num_puzzle_identifiers=int(meta.num_puzzle_identifiers),
    )
    cfg["forward_dtype"] = resolve_forward_dtype(cfg.get("forward_dtype"), device)
    return cfg


def build_model(cfg: dict[str, Any], arch: str | None = None) -> nn.Module:
    """A freshly initialised model from a reference config dict; the architecture is `arch`,
    else the dict's ARCH_KEY, else TRM."""
    from trm.model import ARCHITECTURES, from_reference_config

    name = str(arch or cfg.get(ARCH_KEY) or "trm")
    if name not in ARCHITECTURES:
        raise ModelConfigError(
            f"unknown architecture {name!r} ({ARCH_KEY}); choose from {sorted(ARCHITECTURES)}"
        )
    # every size and step count bounded before anything is allocated (trm.limits.ModelShape)
    cfg = check_model_settings({str(k): v for k, v in cfg.items()}, "model config:", " ")
    return from_reference_config({k: v for k, v in cfg.items() if k != ARCH_KEY}, name)


# --------------------------------------------------------------------------------------------
# The model for a checkpoint (and a dataset)
# --------------------------------------------------------------------------------------------


def _arch_source(saved: dict[str, Any] | None, preset: str | None) -> str:
    if saved is not None:
        return "all_config.yaml"
    return f"--arch {preset}" if preset else "--arch-override"


def build_model_for_dataset(
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    split: str = "test",
    step: int | None = None,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    resize_puzzle_emb: bool = False,
    device: str = "cpu",
    dtype: str = "auto",
    batch_size: int = 1,
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model for `data_dir`'s shape and load the checkpoint. Returns (model, info).

    info: weights (path), config (the reference config dict used), arch_source.
    """
    from trm.data.format import read_metadata
    from trm.model.checkpoint import (
        CheckpointError,
        load_weights,
        puzzle_emb_rows,
        read_state_dict,
        resolve_checkpoint,
    )

    weights, saved = resolve_checkpoint(checkpoint, step)
    meta = read_metadata(data_dir, split)
    state = read_state_dict(weights)
    rows = puzzle_emb_rows(state)
    if rows is not None and rows != meta.num_puzzle_identifiers and not resize_puzzle_emb:
        raise CheckpointError(
            f"checkpoint {weights} has {rows} puzzle-embedding rows but dataset {data_dir} has "
            f"{meta.num_puzzle_identifiers} puzzle identifiers: use the dataset build the checkpoint "
            "was trained on (same subsets, --num-aug and --seed), or pass --resize-puzzle-emb to "
            "load it anyway (every row then starts from the mean of the checkpoint's rows)"
        )
    cfg = model_config(
        saved,
        meta.seq_len,
        meta.vocab_size,
        meta.num_puzzle_identifiers,
        batch_size=batch_size,
        preset=preset,
        overrides=overrides,
    )
    cfg["forward_dtype"] = resolve_forward_dtype(dtype, device, cfg.get("forward_dtype"))
    model = build_model(cfg)
    load_weights(model, state, strict=True, resize_puzzle_emb=resize_puzzle_emb, source=weights)
    model = model.to(device).eval()
    return model, {
        "weights": str(weights),
        "config": cfg,
        "arch_source": _arch_source(saved, preset),
    }


def build_model_for_checkpoint(
    checkpoint: str | os.PathLike,
    *,
    step: int | None = None,
    seq_len: int,
    vocab_size: int,
    num_puzzle_identifiers: int,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    dtype: str = "auto",
) -> tuple[nn.Module, dict[str, Any]]:
    """A checkpoint's model without a dataset: vocabulary and puzzle-embedding rows come from its
    weights (the given values when the weights do not fix them), seq_len as given."""
    from trm.model.checkpoint import (
        load_weights,
        puzzle_emb_rows,
        read_state_dict,
        resolve_checkpoint,
    )

    weights, saved = resolve_checkpoint(checkpoint, step)
    state = read_state_dict(weights)
    vocab = next(
        (int(v.shape[0]) for k, v in state.items() if k.endswith("embed_tokens.embedding_weight")),
        vocab_size,
    )
    rows = puzzle_emb_rows(state) or num_puzzle_identifiers
    cfg = model_config(saved, seq_len, vocab, rows, preset=preset, overrides=overrides)
    cfg["forward_dtype"] = resolve_forward_dtype(dtype, device, cfg.get("forward_dtype"))
    model = build_model(cfg)
    load_weights(model, state, strict=True, source=weights)
    return model.to(device).eval(), {
        "weights": str(weights),
        "config": cfg,
        "arch_source": _arch_source(saved, preset),
    }


def build_random_model(
    preset: str | None,
    *,
    seq_len: int,
    vocab_size: int,
    num_puzzle_identifiers: int,
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    dtype: str = "auto",
    seed: int = 0,
) -> tuple[nn.Module, dict[str, Any]]:
    """A preset's model with seeded random weights (speed does not depend on the values)."""
    import torch

    cfg = model_config(
        None,
        seq_len,
        vocab_size,
        num_puzzle_identifiers,
        preset=preset,
        overrides=overrides,
    )
    cfg["forward_dtype"] = resolve_forward_dtype(dtype, device, cfg.get("forward_dtype"))
    torch.manual_seed(seed)
    model = build_model(cfg)
    return model.to(device).eval(), {"config": cfg}
