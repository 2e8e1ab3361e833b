"""Optimizers: AdamATan2 for the dense weights, sign-SGD for the sparse puzzle embeddings.

AdamATan2 replaces Adam's `m / (sqrt(v) + eps)` by `atan2(m, sqrt(v))`, which is bounded and
needs no epsilon. The fused CUDA kernel from the `adam_atan2` package is used when it imports
and the parameters live on CUDA; otherwise `AdamATan2` below applies the same update with
PyTorch ops:

    p <- p * (1 - lr * wd)
    m <- lerp(m, g, 1 - b1);   v <- lerp(v, g * g, 1 - b2)
    p <- p - (lr / (1 - b1^t)) * atan2(m, sqrt(v) / sqrt(1 - b2^t))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


class AdamATan2(torch.optim.Optimizer):
    """PyTorch implementation of the `adam_atan2` update (decoupled weight decay, no epsilon).

    The state keys (`step`, `exp_avg`, `exp_avg_sq`) match the fused optimizer's, so state
    dicts move between the two.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 1e-2,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"AdamATan2: invalid learning rate {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"AdamATan2: invalid betas {betas}")
        if weight_decay < 0.0:
            raise ValueError(f"AdamATan2: invalid weight_decay {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = group["betas"]
            wd = float(group["weight_decay"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("AdamATan2 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    # float32 step counter on the parameter's device, as the fused optimizer
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = float(state["step"].item())
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

                p.mul_(1.0 - lr * wd)
                exp_avg.lerp_(grad, 1.0 - beta1)
                exp_avg_sq.lerp_(grad * grad, 1.0 - beta2)
                step_size = lr / (1.0 - beta1**t)
                bias_correction2_sqrt = math.sqrt(1.0 - beta2**t)
                p.add_(
                    torch.atan2(exp_avg, exp_avg_sq.sqrt() / bias_correction2_sqrt),
                    alpha=-step_size,
                )
        return loss


def fused_adam_atan2_available() -> bool:
    """True when the fused CUDA optimizer from the `adam_atan2` package imports."""
    try:
        from adam_atan2 import AdamATan2 as _Fused  # noqa: F401
    except Exception:  # ImportError, or a CUDA extension that fails to load
        return False
    return True


def make_adam_atan2(
    params: list[nn.Parameter],
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    prefer_fused: bool = True,
) -> torch.optim.Optimizer:
    """The fused `adam_atan2.AdamATan2` for CUDA parameters when installed, else `AdamATan2`."""
    on_cuda = bool(params) and all(p.is_cuda for p in params)
    if prefer_fused and on_cuda and fused_adam_atan2_available():
        from adam_atan2 import AdamATan2 as FusedAdamATan2

        return FusedAdamATan2(params, lr=lr, betas=betas, weight_decay=weight_decay)
    return AdamATan2(params, lr=lr, betas=betas, weight_decay=weight_decay)


class SparseEmbeddingSignSGD(torch.optim.Optimizer):
    """Sign-SGD with decoupled weight decay for the puzzle-embedding rows used in the batch.

    The embedding module keeps the full table in the buffer `weights` [num_ids, D]; in train mode
    its forward copies the batch's rows into the leaf `local_weights` [B, D] and their ids into
    `local_ids` [B]. `step()` reads `local_weights.grad`, all-gathers gradients and ids across
    ranks under DDP, sums the gradients of duplicate ids, and updates only those rows:
    `w <- w * (1 - lr * wd) - lr * sign(sum of grads)`. Rows not in the batch are untouched
    (no decay either), as in the reference.
    """

    def __init__(
        self, embedding: nn.Module, lr: float = 1e-2, weight_decay: float = 0.1, world_size: int = 1
    ) -> None:
        for name in ("weights", "local_weights", "local_ids"):
            if not hasattr(embedding, name):
                raise ValueError(
                    f"SparseEmbeddingSignSGD: the embedding module has no '{name}' tensor"
                )
        if lr < 0.0 or weight_decay < 0.0:
            raise ValueError(
                f"SparseEmbeddingSignSGD: invalid lr {lr} or weight_decay {weight_decay}"
            )
        self.embedding = embedding
        # The optimizer base class wants tensors; the table itself is what it updates.
        super().__init__(
            [embedding.weights], dict(lr=lr, weight_decay=weight_decay, world_size=world_size)
        )

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        emb = self.embedding
        local_grad = emb.local_weights.grad
        if local_grad is None:
            return None
        for group in self.param_groups:
            sparse_sign_sgd_update(
                emb.weights,
                local_grad,
                emb.local_ids,
                lr=float(group["lr"]),
                weight_decay=float(group["weight_decay"]),
                world_size=int(group["world_size"]),
            )
        return None

    def zero_grad(self, set_to_none: bool = True) -> None:
        lw = self.embedding.local_weights
        if lw.grad is not None:
            if set_to_none:
                lw.grad = None
            else:
                lw.grad.zero_()


@torch.no_grad()
def sparse_sign_sgd_update(
    weights: torch.Tensor,
    local_grad: torch.Tensor,
    local_ids: torch.Tensor,
    lr: float,
    weight_decay: float,
    world_size: int = 1,
) -> None:
    """Apply sign-SGD with decoupled weight decay to the rows of `weights` named in `local_ids`."""
    n, d = local_grad.shape
    all_grad, all_ids = local_grad, local_ids
    if world_size > 1:
        # Every rank applies the same update from the union of all ranks' rows.
        all_grad = torch.empty(
            (world_size * n, d), dtype=local_grad.dtype, device=local_grad.device
        )
        all_ids = torch.empty(world_size * n, dtype=local_ids.dtype, device=local_ids.device)
        _all_gather_into(all_grad, local_grad.contiguous())
        _all_gather_into(all_ids, local_ids.contiguous())
    ids, inverse = all_ids.unique(return_inverse=True)
    summed = torch.zeros((ids.shape[0], d), dtype=all_grad.dtype, device=all_grad.device)
    summed.index_add_(0, inverse, all_grad)
    rows = weights[ids]
    rows.mul_(1.0 - lr * weight_decay).add_(torch.sign(summed).to(rows.dtype), alpha=-lr)
    weights[ids] = rows


def _all_gather_into(out: torch.Tensor, local: torch.Tensor) -> None:
    """`all_gather_into_tensor`, falling back to the list form on backends without it (gloo)."""
    try:
        dist.all_gather_into_tensor(out, local)
    except (RuntimeError, NotImplementedError, ValueError):
        dist.all_gather(list(out.chunk(dist.get_world_size())), local)
