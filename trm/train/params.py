"""Which tensors a run trains, and the weights it exports.

`dense_parameters`: what AdamATan2 updates (the puzzle-embedding table is a buffer that the
sign-SGD optimizer updates). `frozen_tensors`: what `train.freeze` keeps fixed.
`weights_state_dict`: the exported step_N weights, in the reference key layout.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import torch
from torch import nn

from trm.errors import UserError


def dense_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters for AdamATan2 (the puzzle-embedding table is a buffer, updated by sign-SGD)."""
    emb = getattr(model, "puzzle_emb", None)
    skip = {id(getattr(emb, "local_weights", None))}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in skip]


def frozen_tensors(model: nn.Module, spec: Any) -> tuple[list[str], bool]:
    """Parameter names to freeze, and whether the puzzle-embedding table is frozen.

    `spec` is None, one name or a list of them: `dense` (every parameter: only the puzzle
    embeddings train, the reference's freeze_weights), `puzzle_emb` (the embedding table), or
    parameter names and glob patterns such as `embed_tokens.*` or `L_level.layers.0.*`.
    """
    if spec is None:
        return [], False
    patterns = [spec] if isinstance(spec, str) else [str(x) for x in spec]
    names = [n for n, _ in model.named_parameters()]
    frozen: set[str] = set()
    freeze_emb = False
    for pattern in patterns:
        if pattern == "dense":
            frozen.update(names)
        elif pattern in ("puzzle_emb", "puzzle_emb.weights"):
            if getattr(model, "puzzle_emb", None) is None:
                raise UserError(
                    "train.freeze: puzzle_emb given but the model has no puzzle embedding"
                )
            freeze_emb = True
        else:
            hits = fnmatch.filter(names, pattern)
            if not hits:
                raise UserError(
                    f"train.freeze: {pattern!r} matches no parameter (parameters: {', '.join(names)})"
                )
            frozen.update(hits)
    return sorted(frozen), freeze_emb


def weights_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Weights in the reference key layout when the model offers it (loadable by load_weights)."""
    sd = (
        model.reference_state_dict()
        if hasattr(model, "reference_state_dict")
        else model.state_dict()
    )
    return {k: v.detach().cpu() for k, v in sd.items()}
