"""Optimizers: AdamATan2 for the dense weights, sign-SGD for the sparse puzzle embeddings.

AdamATan2 replaces Adam's `m / (sqrt(v) + eps)` by `atan2(m, sqrt(v))`, which is bounded and
needs no epsilon. The fused CUDA kernel from the `adam_atan2` package is used when it imports
and the parameters live on CUDA; otherwise `AdamATan2` below applies the same update with
PyTorch ops, in the kernel's order of operations (csrc/adam_atan2.cu of imoneoi/adam-atan2):

    scalars (double, then rounded to float32): step_size = lr / (1 - b1^t),
        wd_alpha = 1 - lr * wd, bc2 = sqrt(1 - b2^t), mb1 = 1 - b1, mb2 = 1 - b2
    p <- p * wd_alpha
    m <- fma(mb1, g, fma(-mb1, m, m))          (the kernel's lerp: two fused multiply-adds)
    v <- fma(mb2, g * g, fma(-mb2, v, v))
    p <- fma(-step_size, atan2(m, sqrt(v) / bc2), p)   (nvcc contracts `p -= a * b` to an FMA)

PyTorch has no FMA; `fma_float32` computes a correctly rounded one for float32 tensors in
float64, so CPU training gives, rounding for rounding, what the kernel computes (up to the
atan2 implementation: CUDA's atan2f and the CPU's may differ in the last bit).
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
            beta1, beta2 = group["betas"]
            hyper = dict(
                lr=float(group["lr"]),
                beta1=float(beta1),
                beta2=float(beta2),
                weight_decay=float(group["weight_decay"]),
            )
            # Tensors updated together: same step count, dtype and device.
            buckets: dict[tuple[float, torch.dtype, torch.device], list[list[torch.Tensor]]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamATan2 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    # float32 step counter on the parameter's device, as the fused optimizer
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                key = (float(state["step"].item()), p.dtype, p.device)
                tensors = buckets.setdefault(key, [[], [], [], []])
                for lst, x in zip(
                    tensors, (p, p.grad, state["exp_avg"], state["exp_avg_sq"]), strict=True
                ):
                    lst.append(x)
            for (t, _, _), (params, grads, exp_avgs, exp_avg_sqs) in buckets.items():
                _update_flat(params, grads, exp_avgs, exp_avg_sqs, step=t, **hyper)
        return loss


# Elements updated per call: bounds the float64 temporaries (about 100 bytes per element).
_CHUNK = 1 << 22


def _update_flat(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    **kwargs: Any,
) -> None:
    """`adam_atan2_update_` over many tensors at once: small tensors are concatenated, as the
    update is elementwise; one call per tensor would be dominated by per-op overhead."""
    if len(params) == 1 and params[0].numel() <= _CHUNK:
        adam_atan2_update_(params[0], grads[0], exp_avgs[0], exp_avg_sqs[0], **kwargs)
        return
    flat = [torch.cat([x.reshape(-1) for x in xs]) for xs in (params, grads, exp_avgs, exp_avg_sqs)]
    for lo in range(0, flat[0].numel(), _CHUNK):
        adam_atan2_update_(*(x[lo : lo + _CHUNK] for x in flat), **kwargs)
    offset = 0
    for p, m, v in zip(params, exp_avgs, exp_avg_sqs, strict=True):
        n = p.numel()
        p.copy_(flat[0][offset : offset + n].view_as(p))
        m.copy_(flat[2][offset : offset + n].view_as(m))
        v.copy_(flat[3][offset : offset + n].view_as(v))
        offset += n


def _f32(x: float) -> float:
    """A Python float rounded to the nearest float32 (the kernel's opmath scalars)."""
    return float(torch.tensor(x, dtype=torch.float32))


@torch.no_grad()
def fma_float32(a: torch.Tensor | float, b: torch.Tensor | float, c: torch.Tensor) -> torch.Tensor:
    """Correctly rounded `a * b + c` for float32 values (tensors or float32-exact Python floats).

    The product of two float32 numbers is exact in float64 (24 + 24 significant bits), so only
    the sum is rounded twice: to float64, then to float32. That can differ from one rounding only
    where the float64 sum is a tie for float32 (the 29 bits float32 drops are 1000...0) or lies
    in float32's subnormal range. There, the sum is made "round-to-odd" (when inexact, by its
    TwoSum error, and its last bit is even, it moves to the odd neighbour on the side of the
    exact sum), whose rounding to float32 is the correctly rounded result (Boldo and Melquiond,
    IEEE Trans. Computers 57(4), 2008).
    """
    a64 = a.to(torch.float64) if isinstance(a, torch.Tensor) else a
    b64 = b.to(torch.float64) if isinstance(b, torch.Tensor) else b
    prod = torch.mul(a64, b64) if isinstance(a64, torch.Tensor) else b64 * a64
    c64 = c.to(torch.float64)
    prod, c64 = torch.broadcast_tensors(prod, c64)
    total = prod + c64
    bits = total.view(torch.int64)
    # (a float64 sum that is exactly 0 is exact: the smallest non-zero |prod + c| is ~2**-298)
    tiny = (total.abs() < 2.0**-126) & (total != 0)
    suspect = ((bits & 0x1FFFFFFF) == 0x10000000) | tiny
    idx = suspect.reshape(-1).nonzero().squeeze(1)
    if idx.numel():
        p, c_, t = (x.reshape(-1)[idx] for x in (prod, c64, total))
        # TwoSum: the exact error of the float64 addition (p + c_ == t + err exactly)
        b_virtual = t - p
        err = (p - (t - b_virtual)) + (c_ - b_virtual)
        tb = t.view(torch.int64)
        inexact = (err > 0) | (err < 0)  # NaN (from inf - inf) is neither: infinities stay
        toward_exact = torch.where((err > 0) == (t > 0), 1, -1)  # +1 = larger magnitude
        tb = torch.where(inexact & ((tb & 1) == 0), tb + toward_exact, tb)
        total = total.reshape(-1).index_put((idx,), tb.view(torch.float64)).view_as(total)
    return total.to(torch.float32)


@torch.no_grad()
def adam_atan2_update_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
) -> None:
    """One AdamATan2 step in place, in the fused kernel's order of operations (module doc).

    float32, bfloat16 and float16 tensors are computed in float32 as the kernel's opmath, with
    exact FMAs; float64 tensors in float64 with separately rounded operations (no exact FMA
    is available at that precision).
    """
    bias_correction1 = 1.0 - beta1**step
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    if param.dtype == torch.float64:
        param.mul_(1.0 - lr * weight_decay)
        exp_avg.lerp_(grad, 1.0 - beta1)
        exp_avg_sq.lerp_(grad * grad, 1.0 - beta2)
        denom = exp_avg_sq.sqrt() / bias_correction2_sqrt
        param.add_(torch.atan2(exp_avg, denom), alpha=-(lr / bias_correction1))
        return
    step_size = _f32(lr / bias_correction1)
    wd_alpha = _f32(1.0 - lr * weight_decay)
    bc2 = torch.tensor(_f32(bias_correction2_sqrt), dtype=torch.float32, device=param.device)
    mbeta1, mbeta2 = _f32(1.0 - beta1), _f32(1.0 - beta2)

    p = param.to(torch.float32)
    g = grad.to(torch.float32)
    m = exp_avg.to(torch.float32)
    v = exp_avg_sq.to(torch.float32)
    p = p * torch.tensor(wd_alpha, dtype=torch.float32)  # the kernel's `param *= wd_alpha`
    m = fma_float32(mbeta1, g, fma_float32(-mbeta1, m, m))
    v = fma_float32(mbeta2, g * g, fma_float32(-mbeta2, v, v))
    update = torch.atan2(m, v.sqrt() / bc2)
    p = fma_float32(-step_size, update, p)
    param.copy_(p)
    exp_avg.copy_(m)
    exp_avg_sq.copy_(v)


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
