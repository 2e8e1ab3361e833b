"""Full training state on disk (RUN/state.pt), RNG capture, and SIGTERM-triggered saving.

`state.pt` holds everything a run needs to continue as if never stopped: model state (including
the puzzle-embedding table), both optimizers, the EMA shadow, the step, the data position and,
per rank, the ACT carry and the RNG states (torch CPU/CUDA, NumPy, Python). It is written to a
temporary file and renamed, so a crash mid-write never leaves a truncated state behind.
"""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from trm.utils import atomic_path

STATE_FILE = "state.pt"
STATE_FORMAT = 1


def capture_rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def to_cpu(obj: Any) -> Any:
    """Move every tensor inside dicts, lists, tuples and dataclass-like objects to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_cpu(v) for v in obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.replace(
            obj, **{f: to_cpu(getattr(obj, f)) for f in obj.__dataclass_fields__}
        )
    return obj


def to_device(obj: Any, device: torch.device | str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_device(v, device) for v in obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.replace(
            obj, **{f: to_device(getattr(obj, f), device) for f in obj.__dataclass_fields__}
        )
    return obj


def save_state(run_dir: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write RUN/state.pt atomically."""
    final = Path(run_dir) / STATE_FILE
    state = {"format": STATE_FORMAT, **state}
    with atomic_path(final) as tmp:
        torch.save(state, tmp)
    return final


def load_state(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"no training state to resume from: {path} does not exist")
    try:
        # Our own file: it pickles the ACT carry (a dataclass) and NumPy RNG tuples.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or foreign file
        raise ValueError(f"{path}: not a readable training state ({e})") from e
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(
            f"{path}: not a trm training state (format {state.get('format') if isinstance(state, dict) else '?'})"
        )
    return state


class StopFlag:
    """Set by SIGTERM (and SIGUSR1, which some schedulers send ahead of a pre-emption).

    The loop checks it after each step, saves the full state and exits; the handler itself does
    no I/O, so a signal arriving mid-step cannot corrupt anything.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    @property
    def set(self) -> bool:
        return self.signum is not None

    def install(self) -> StopFlag:
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread (e.g. inside some test runners)
                pass
        return self

    def uninstall(self) -> None:
        for sig, prev in self._previous.items():
            signal.signal(sig, prev)
        self._previous.clear()
