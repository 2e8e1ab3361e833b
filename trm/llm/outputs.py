"""What each `trm llm` command may overwrite: only its own earlier output (trm.outputs rules).

Each recogniser looks for what that command, and nothing else, writes: a dataset manifest with
the LLM keys, a training summary or step folders, a predictions file's summary beside it, a
score folder, a comparison JSON, a tiny model's marker file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from trm.outputs import check_output_path

TINY_MODEL_MARKER = "trm_tiny_model.json"  # written by `trm llm make-tiny-model`


def _json(path: Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _has_keys(path: Path, *keys: str) -> bool:
    obj = _json(path)
    return isinstance(obj, dict) and all(k in obj for k in keys)


def is_llm_dataset(path: Path) -> bool:
    return path.is_dir() and _has_keys(path / "manifest.json", "tokenizer", "splits", "files")


def is_llm_run(path: Path) -> bool:
    """A `trm llm train` folder: its summary, or (killed early) its step_N / adapter folders."""
    if not path.is_dir():
        return False
    if (path / "train_summary.json").is_file():
        return True
    children = list(path.iterdir())
    return bool(children) and all(
        c.is_dir()
        and (c.name == "adapter" or c.name.startswith("step_"))
        or c.name == "metrics.jsonl"
        for c in children
    )


def predictions_summary_path(out: str | os.PathLike) -> Path:
    return Path(str(out)).with_suffix(".summary.json")


def is_predictions_summary(path: Path) -> bool:
    return _has_keys(path, "records", "unparseable", "max_new_tokens")


def is_llm_predictions(path: Path) -> bool:
    return path.is_file() and is_predictions_summary(predictions_summary_path(path))


def is_llm_score(path: Path) -> bool:
    return (
        path.is_dir() and (path / "metrics.json").is_file() and (path / "per_task.json").is_file()
    )


def is_tiny_model(path: Path) -> bool:
    return path.is_dir() and (path / TINY_MODEL_MARKER).is_file()


def guard(
    out: str | os.PathLike,
    kind: str,
    recognise: Callable[[Path], bool],
    inputs: Iterable[str | os.PathLike | None],
    overwrite: bool,
) -> None:
    """check_output_path for an llm command; `None` inputs (options not given) are skipped."""
    check_output_path(
        out,
        kind=kind,
        recognise=recognise,
        inputs=[p for p in inputs if p is not None],
        overwrite=overwrite,
    )


def local_path(name: str | None) -> str | None:
    """A model/adapter given as a local folder (an input to protect); None for a Hub id."""
    return name if name is not None and Path(name).exists() else None
