"""Loading reference (and our own) TRM state dicts.

Reference checkpoints are plain state dicts saved with `torch.save`; a `torch.compile`d
training run prefixes keys with `_orig_mod.model.inner.`, an uncompiled one with
`model.inner.`; our own `TRM.state_dict()` has no prefix.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

KNOWN_PREFIXES = ("_orig_mod.model.inner.", "model.inner.", "_orig_mod.", "")
PUZZLE_EMB_KEY = "puzzle_emb.weights"


@dataclass
class LoadReport:
    """What `load_weights` did: the prefix it stripped and whether the puzzle table was resized."""

    source: str
    prefix: str
    num_keys: int
    puzzle_emb_resized: bool = False
    puzzle_emb_old_rows: int | None = None
    puzzle_emb_new_rows: int | None = None
    puzzle_emb_resize_method: str | None = None
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _detect_prefix(keys: list[str]) -> str:
    for prefix in KNOWN_PREFIXES:
        if prefix and keys and all(k.startswith(prefix) for k in keys):
            return prefix
    return ""


def _read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any unreadable file the same way
        raise ValueError(f"{path}: not a readable torch state dict ({exc})") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    return obj


def load_weights(
    model: nn.Module,
    state_dict_or_path: dict[str, torch.Tensor] | str | os.PathLike,
    strict: bool = True,
    resize_puzzle_emb: bool = False,
) -> LoadReport:
    """Load reference or own weights into `model` (a `trm.model.TRM`).

    Key prefixes `_orig_mod.model.inner.`, `model.inner.` or none are accepted. A shape
    mismatch raises ValueError naming every mismatched key with both shapes. A puzzle
    embedding table with another number of rows is such a mismatch unless
    `resize_puzzle_emb=True`: then, as the reference does when fine-tuning on other puzzles,
    every row is replaced by the mean of the checkpoint's rows; this is logged and reported.
    """
    if isinstance(state_dict_or_path, (str, os.PathLike)):
        source = str(state_dict_or_path)
        state_dict = _read_state_dict(state_dict_or_path)
    else:
        source = "<state_dict>"
        state_dict = state_dict_or_path
    keys = list(state_dict.keys())
    prefix = _detect_prefix(keys)
    sd = {k[len(prefix) :]: v for k, v in state_dict.items()}
    report = LoadReport(source=source, prefix=prefix, num_keys=len(sd))

    own = model.state_dict()
    mismatched: list[str] = []
    for key, value in sd.items():
        if key not in own or own[key].shape == value.shape:
            continue
        if (
            key == PUZZLE_EMB_KEY
            and resize_puzzle_emb
            and value.ndim == 2
            and value.shape[1] == own[key].shape[1]
        ):
            mean_row = value.float().mean(dim=0, keepdim=True)
            sd[key] = mean_row.expand(own[key].shape[0], -1).to(own[key].dtype).contiguous()
            report.puzzle_emb_resized = True
            report.puzzle_emb_old_rows = int(value.shape[0])
            report.puzzle_emb_new_rows = int(own[key].shape[0])
            report.puzzle_emb_resize_method = "mean_row"
            log.warning(
                "%s: puzzle embedding resized from %d to %d rows (every row = mean of the old rows)",
                source,
                value.shape[0],
                own[key].shape[0],
            )
            continue
        mismatched.append(
            f"{prefix}{key}: checkpoint {tuple(value.shape)} vs model {tuple(own[key].shape)}"
        )
    if mismatched:
        hint = (
            " (pass resize_puzzle_emb=True to resize the puzzle embedding)"
            if any(m.startswith(prefix + PUZZLE_EMB_KEY) for m in mismatched)
            else ""
        )
        raise ValueError(
            f"{source}: shape mismatch for {len(mismatched)} key(s){hint}:\n  "
            + "\n  ".join(mismatched)
        )

    result = model.load_state_dict(sd, strict=False)
    report.missing_keys = list(result.missing_keys)
    report.unexpected_keys = list(result.unexpected_keys)
    if strict and (report.missing_keys or report.unexpected_keys):
        raise ValueError(
            f"{source}: state dict does not match the model (prefix {prefix!r} stripped); "
            f"missing keys: {report.missing_keys}; unexpected keys: {report.unexpected_keys}"
        )
    return report
