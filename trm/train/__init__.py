"""Training: the reference loss, optimizers, EMA, schedule, the loop, checkpoints, DDP.

`loss_step` is imported lazily so that `import trm.train` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["loss_step"]


def __getattr__(name: str) -> Any:
    if name == "loss_step":
        from trm.train.loss import loss_step

        return loss_step
    raise AttributeError(f"module 'trm.train' has no attribute {name!r}")
