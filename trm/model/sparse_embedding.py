"""Per-puzzle embedding table updated sparsely (the reference's `CastedSparseEmbedding`).

Attribute contract (the sign-SGD optimizer in trm.train.optim relies on it):

- `weights`: buffer [num_puzzle_identifiers, D], persistent (state-dict key
  `puzzle_emb.weights`); the real table, never touched by autograd.
- `local_weights`: buffer [batch, D], not persistent, a leaf with `requires_grad=True`. In
  training mode each forward copies `weights[ids]` into it and returns it, so after
  `backward()` `local_weights.grad` holds the gradient of the batch's rows.
- `local_ids`: buffer [batch] int32, not persistent: the ids of those rows.

In eval mode the forward reads `weights` directly (no gradient). Optimizers should hold the
module and read `local_weights`/`local_ids` at step time: both are re-allocated when a batch
of another size arrives or when the module moved device (a moved leaf stops being a leaf).
"""

from __future__ import annotations

import torch
from torch import nn

from trm.model.layers import trunc_normal_init_


class CastedSparseEmbedding(nn.Module):
    """Puzzle-embedding table with per-batch local rows for sparse updates (see module doc)."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        batch_size: int,
        init_std: float,
        cast_to: torch.dtype,
    ) -> None:
        super().__init__()
        self.cast_to = cast_to
        self.register_buffer(
            "weights",
            trunc_normal_init_(torch.empty(num_embeddings, embedding_dim), std=init_std),
            persistent=True,
        )
        self.register_buffer(
            "local_weights",
            torch.zeros(batch_size, embedding_dim, requires_grad=True),
            persistent=False,
        )
        self.register_buffer(
            "local_ids", torch.zeros(batch_size, dtype=torch.int32), persistent=False
        )

    def _ensure_local(self, batch: int) -> None:
        lw = self.local_weights
        if (
            lw.shape[0] != batch
            or not lw.is_leaf
            or not lw.requires_grad
            or lw.device != self.weights.device
        ):
            D = self.weights.shape[1]
            dev = self.weights.device
            self.local_weights = torch.zeros(
                batch, D, device=dev, dtype=self.weights.dtype, requires_grad=True
            )
            self.local_ids = torch.zeros(batch, dtype=torch.int32, device=dev)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.ndim > 1:
            ids = ids.squeeze(-1)
        if not self.training:
            return self.weights[ids].to(self.cast_to)
        self._ensure_local(ids.shape[0])
        with torch.no_grad():
            self.local_weights.copy_(self.weights[ids])
            self.local_ids.copy_(ids)
        return self.local_weights.to(self.cast_to)
