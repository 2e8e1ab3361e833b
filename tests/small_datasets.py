"""Small prepared datasets of each kind and predictions for them (the dataset's own answers),
built with the `trm` commands in seconds, for tests of what the commands refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trm.cli import main
from trm.data.format import load_split
from trm.eval.predictions import dataset_row_identifiers, write_predictions


def arc_tasks(out: Path, *extra: str) -> Path:
    """Generated ARC task files (`trm prepare arc-tasks`); returns the input prefix."""
    argv = ["prepare", "arc-tasks", "--out", str(out), "--demos", "2", "--min-size", "2"]
    argv += ["--max-size", "3", "--families", "colour_map", "fill_background", *extra]
    assert main(argv) == 0
    return out / "generated"


def arc_dataset(prefix: Path, out: Path, num_aug: int = 2) -> Path:
    argv = ["prepare", "arc", "--no-progress", "--input-prefix", str(prefix), "--canvas", "6"]
    argv += ["--subsets", "training", "evaluation", "--test-set", "evaluation"]
    assert main([*argv, "--num-aug", str(num_aug), "--out", str(out)]) == 0
    return out


def grid_dataset(out: Path, kind: str = "sudoku") -> Path:
    argv = ["prepare", kind, "--no-progress", "--source", "generate", "--num", "40"]
    argv += ["--num-test", "10", "--out", str(out)]
    size = ["--size", "4"] if kind == "sudoku" else ["--size", "5"]
    assert main([*argv, *size]) == 0
    return out


def answers(data: Path, out: Path) -> Path:
    """A predictions file whose every answer is the dataset's label (a perfect model)."""
    test = load_split(data, "test")
    write_predictions(
        out,
        puzzle_identifiers=dataset_row_identifiers(data),
        inputs=np.asarray(test["inputs"]),
        preds=np.asarray(test["labels"]),
        q_halt_logits=np.zeros(len(test["inputs"]), dtype=np.float32),
    )
    return out


# The cheapest model that still trains on 900-token ARC canvases (Hydra overrides of trm train):
# tests of the analyses that train a run first share it.
TINY_ARC_MODEL = [
    "model=tiny",
    "train=cpu_smoke",
    "device=cpu",
    "model.hidden_size=32",
    "model.num_heads=2",
    "model.H_cycles=1",
    "model.L_cycles=1",
    "model.halt_max_steps=2",
]
