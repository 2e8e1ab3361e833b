"""Distributed data parallel helpers for `torchrun --nproc-per-node N trm train ...`.

As in the reference, there is no DistributedDataParallel wrapper: each rank runs its slice of
the global batch, the loss is scaled by 1 / global batch size, and the dense gradients are
summed across ranks with all-reduce (one flat bucket, one collective). The sparse
puzzle-embedding gradients are all-gathered by the sign-SGD optimizer itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # A gloo group for small CPU-side collectives (stop flags, pickled objects) under NCCL.
    cpu_group: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_kind: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE/LOCAL_RANK set), else single."""
    if "LOCAL_RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    local_rank = int(os.environ["LOCAL_RANK"])
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    cpu_group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, cpu_group)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@torch.no_grad()
def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Make every rank start from rank `src`'s parameters and buffers."""
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=src)


@torch.no_grad()
def all_reduce_gradients(params: list[nn.Parameter]) -> None:
    """Sum gradients over ranks (the loss is already divided by the global batch size)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when `flag` is true on any rank (a SIGTERM seen by one rank stops all)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=info.cpu_group)
    return bool(t.item())


def gather_objects(obj: Any, info: DistInfo) -> list[Any] | None:
    """Rank 0 receives every rank's `obj` (a list indexed by rank); others get None."""
    if not info.enabled:
        return [obj]
    out: list[Any] | None = [None] * info.world_size if info.is_main else None
    dist.gather_object(obj, out, dst=0, group=info.cpu_group)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier(group=info.cpu_group)
