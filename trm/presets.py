"""The checkout's config/ folder and the presets in it (no heavy imports: the CLI's help and
choices are built from these)."""

from __future__ import annotations

import os
from pathlib import Path

MODEL_GROUP = "model"  # the Hydra config group holding the model presets
TRAIN_GROUP = "train"


def config_dir() -> Path:
    """config/ of the source tree (the package runs from a checkout or an editable install)."""
    return Path(__file__).resolve().parents[1] / "config"


def preset_names(root: str | os.PathLike | None = None, group: str = MODEL_GROUP) -> list[str]:
    """The presets of a group: the names of config/<group>/*.yaml."""
    folder = Path(root or config_dir()) / group
    return sorted(p.stem for p in folder.glob("*.yaml"))
