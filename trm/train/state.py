"""Full training state on disk (RUN/state.pt), RNG capture, and SIGTERM-triggered saving.

`state.pt` holds everything a run needs to continue as if never stopped: model state (including
the puzzle-embedding table), both optimizers, the EMA shadow, the step, the data position and,
per rank, the ACT carry and the RNG states (torch CPU/CUDA, NumPy, Python). It is written to a
temporary file and renamed, so a crash mid-write never leaves a truncated state behind.

It is read with `torch.load(weights_only=True)`, so a crafted file (from a downloaded run folder)
cannot run code: everything is saved as tensors and plain Python data. NumPy arrays (RNG
states) and dataclasses (the ACT carry) are stored as small tagged dicts and rebuilt on load;
a new field of another type fails loudly at save time rather than silently needing pickle.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pickle
import random
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from trm.errors import InputError, InputNotFoundError
from trm.utils import atomic_path

STATE_FILE = "state.pt"
STATE_FORMAT = 2  # 2: plain data only (weights_only-safe); 1 pickled NumPy arrays and dataclasses

_NDARRAY_TAG = "__ndarray__"
_DATACLASS_TAG = "__dataclass__"


def to_plain(obj: Any, where: str = "state") -> Any:
    """Tensors, numbers, strings, None and containers of them, for a weights_only load."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        return obj
    if isinstance(obj, np.ndarray):
        return {
            _NDARRAY_TAG: str(obj.dtype),
            "shape": list(obj.shape),
            "data": obj.ravel().tolist(),
        }
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        return {
            _DATACLASS_TAG: f"{cls.__module__}:{cls.__qualname__}",
            "fields": {
                f.name: to_plain(getattr(obj, f.name), f"{where}.{f.name}")
                for f in dataclasses.fields(obj)
            },
        }
    raise TypeError(
        f"training state field {where} has type {type(obj).__name__}, which a weights_only "
        "load cannot read: store it as tensors, numbers, strings, lists or dicts"
    )


def from_plain(obj: Any) -> Any:
    """Undo `to_plain`: rebuild NumPy arrays and this project's dataclasses."""
    if isinstance(obj, dict):
        if _NDARRAY_TAG in obj:
            return np.asarray(obj["data"], dtype=np.dtype(obj[_NDARRAY_TAG])).reshape(obj["shape"])
        if _DATACLASS_TAG in obj:
            cls = _project_dataclass(str(obj[_DATACLASS_TAG]))
            return cls(**{k: from_plain(v) for k, v in obj["fields"].items()})
        return {k: from_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(from_plain(v) for v in obj)
    return obj


def _project_dataclass(name: str) -> type:
    # Only this package's dataclasses: a state file never names code to import from elsewhere.
    module_name, _, qualname = name.partition(":")
    if module_name != "trm" and not module_name.startswith("trm."):
        raise InputError(f"training state names a class outside trm: {name}")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise InputError(f"training state names {name}, which is not a trm dataclass")
    return obj


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
    plain = to_plain({"format": STATE_FORMAT, **state})
    with atomic_path(final) as tmp:
        torch.save(plain, tmp)
    return final


def load_state(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        raise InputNotFoundError(f"no training state to resume from: {path} does not exist")
    try:
        # weights_only: a state.pt from a downloaded run folder must not be able to run code.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" not in str(e):  # no code named: random bytes or another format
            raise InputError(
                f"{path}: not a readable training state (not a torch save file)"
            ) from e
        raise InputError(
            f"{path}: refused: it names Python code to run, not only tensors and plain data (a "
            "file from an untrusted source, or a state written by trm before format 2); nothing "
            "in it was run"
        ) from e
    except Exception as e:  # truncated or foreign file
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a readable training state ({first_line})") from e
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(
            f"{path}: not a trm training state of format {STATE_FORMAT} (found format {found})"
        )
    return from_plain(state)


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
