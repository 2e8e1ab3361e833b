"""Inference under torchrun (WORLD_SIZE > 1): rank r computes shards r, r+W, r+2W, ...; rank 0
owns the shard plan and merges after the others are done."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from trm.errors import UserError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local: int = 0

    @classmethod
    def from_env(cls) -> Ranks:
        """This process's place among torchrun's ranks (one process without torchrun)."""
        return cls(
            rank=int(os.environ.get("RANK", "0")),
            world=int(os.environ.get("WORLD_SIZE", "1")),
            local=int(os.environ.get("LOCAL_RANK", "0")),
        )

    def device(self, requested: str) -> str:
        """The device of this rank: `requested` (auto resolved), one GPU per local rank."""
        from trm.utils import resolve_device

        device = resolve_device(requested)
        if device == "cuda" and self.world > 1:
            import torch

            device = f"cuda:{self.local}"
            torch.cuda.set_device(self.local)
        return device

    def threads(self, requested: int | None, device: str) -> int | None:
        """CPU threads for torch: as requested, else the cores divided among the ranks when
        several share a CPU machine, else torch's own choice (None)."""
        if requested is None and device == "cpu" and self.world > 1:
            return max(1, (os.cpu_count() or 1) // self.world)
        return requested


class Group:
    """The process group of a torchrun run (no-ops for a single process)."""

    def __init__(self, ranks: Ranks, dist: Any = None) -> None:
        self.ranks, self.dist = ranks, dist

    def from_main(self, fn: Callable[[], Any]) -> Any:
        """Rank 0 computes `fn()` and every rank gets its value; a UserError on rank 0 is
        raised there and, with its message, on every other rank (no rank is left waiting)."""
        if self.dist is None:
            return fn()
        verdict: list[Any] = [None, None]
        error: UserError | None = None
        if self.ranks.rank == 0:
            try:
                verdict = [None, fn()]
            except UserError as e:
                verdict, error = [str(e), None], e
        self.dist.broadcast_object_list(verdict, src=0)
        if error is not None:
            raise error
        if verdict[0]:
            raise UserError(verdict[0])
        return verdict[1]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order."""
        if self.dist is None:
            return [value]
        out: list[Any] = [None] * self.ranks.world
        self.dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.dist is not None:
            self.dist.barrier()


@contextlib.contextmanager
def process_group(ranks: Ranks, device: str) -> Iterator[Group]:
    """Join torchrun's process group for the block (nccl on GPUs, gloo on CPUs)."""
    if ranks.world <= 1:
        yield Group(ranks)
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    try:
        yield Group(ranks, dist)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
