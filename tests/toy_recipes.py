"""A new puzzle kind and a new architecture, each written exactly as docs/recipes.md says (the
files a real addition would be), for tests/test_recipes.py.

- Kind "flip": square grids of 0/1 cells whose answer is every cell flipped. Its data module is
  this file's first half (settings + a GridKind), its registry entry `FLIP_KIND`.
- Architecture "trm_toy": a TRM whose latent recursion runs one extra no-grad cycle. Its model
  module is the second half, its registry entry ("trm_toy": TRMToy), its preset `TOY_PRESET`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trm.data import puzzle_csv as pc
from trm.data.grid_prepare import SOURCE_HELP, GridKind, Grids, GridSettings
from trm.kinds import Builder, PuzzleKind
from trm.model.trm import TRM
from trm.settings import count, setting, size

# ---- the data module of kind "flip" ---------------------------------------------------------------


@dataclass(kw_only=True)
class FlipSettings(GridSettings):
    source: str = setting("generate", help=SOURCE_HELP)
    size: int | None = setting(None, check=size(2, 6), help="grid side (default 3)")
    num_aug: int = setting(0, check=count(0, 0), help="flip puzzles have no augmentations")


class _Flip(GridKind):
    name, noun, default_size = "flip", "flip puzzles", 3

    def generate(self, s: FlipSettings, side: int, n: int, progress: bool) -> list[pc.Record]:
        rng = pc.rng_for(s.seed, 0)

        def draw(kept: int) -> pc.Record:
            q = "".join(rng.choice(["0", "1"], side * side))
            return (f"flip{kept}", q, q.translate(str.maketrans("01", "10")), 0)

        return pc.distinct_records(
            n, draw, desc="flip", unit="puzzles", progress=False, max_duplicates=100_000,
            duplicates_error="too few distinct flip puzzles for --num",
        )  # fmt: skip

    def parse(
        self, s: FlipSettings, rows: pc.PuzzleRows, side: int | None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        side = side or int(len(rows.questions[0]) ** 0.5)
        cells = side * side
        pc.check_lengths(rows, "q", rows.questions, cells)
        pc.check_lengths(rows, "a", rows.answers, cells)
        q = pc.strings_to_bytes(rows.questions, cells) - ord("0") + 1  # tokens 1, 2
        a = pc.strings_to_bytes(rows.answers, cells) - ord("0") + 1
        return q.astype(np.uint8), a.astype(np.uint8), side

    def examples(self, s: FlipSettings, grids: Grids, side: int, k: int, progress: bool) -> Grids:
        return grids

    def vocab_size(self, side: int) -> int:
        return 3  # pad, 0, 1

    def puzzle_info(self, s: FlipSettings, side: int) -> dict[str, Any]:
        return {"kind": "flip", "grid_size": side, "tokens": {"pad": 0, "0": 1, "1": 2}}


FLIP = _Flip()
prepare_flip = FLIP.prepare

# ---- the registry entry of kind "flip" (one PuzzleKind in trm/kinds.py) ---------------------------

FLIP_KIND = PuzzleKind(
    "flip",
    "Flip",
    "Flip/exact_accuracy",
    "test example",
    False,
    "per_example.csv",
    Builder("toy_recipes", "FlipSettings", "prepare_flip", help="flip puzzles", description="x"),
)

# ---- the model module of architecture "trm_toy" ---------------------------------------------------


class TRMToy(TRM):
    """A TRM that refines its latent once more, without gradients, before the last cycle."""

    def latent_recursion(self, z_H, z_L, x, cos_sin):  # type: ignore[no-untyped-def,override]
        with torch.no_grad():
            z_H, z_L = super().latent_recursion(z_H, z_L, x, cos_sin)
        return super().latent_recursion(z_H, z_L, x, cos_sin)


# ---- its preset (config/model/trm_toy.yaml) -------------------------------------------------------

TOY_PRESET = """\
defaults:
  - tiny
  - _self_
arch: trm_toy
hidden_size: 32
"""
