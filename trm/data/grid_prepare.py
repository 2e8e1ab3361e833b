"""Sudoku and Maze datasets: one build for both, each kind supplying only what differs.

Both read `train.csv`/`test.csv` rows (a Hub dataset, a local folder, or the rows their
generator writes), check them, keep a seeded subset, augment the train split and write the
reference layout in which every example is its own puzzle (trm.data.puzzle_csv).
`GridKind.prepare` owns that sequence and the manifest; each kind (trm.data.sudoku,
trm.data.maze) subclasses `GridKind` to supply the generator, the row checks, the augmentation,
the tokens and puzzle_info.json.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trm.data import puzzle_csv as pc
from trm.data.manifest import write_manifest
from trm.errors import InputError
from trm.settings import SEED, count, positive, setting
from trm.utils import atomic_dir, write_json

SOURCE_HELP = (
    "hf:ORG/NAME[@REVISION] (Hub dataset with train.csv/test.csv), csv:DIR (a folder with "
    "train.csv and test.csv) or generate (offline generator)"
)
# Generated puzzles are kept in memory as strings and arrays: a million 30x30 mazes is ~4 GB
# before augmentation (and generating them takes hours); Sudoku-Extreme's train split is 3.8M.
MAX_GENERATED = 1_000_000
MAX_HF_TIMEOUT_S = 7 * 24 * 3600.0
Grids = tuple[np.ndarray, np.ndarray]  # questions and answers (or inputs and labels), row-aligned


@dataclass(kw_only=True)
class GridSettings:
    """What Sudoku and Maze datasets are built from: the `dataset` keys both kinds read. Each
    kind declares `source` and `num_aug` again with its own default and bounds, and `size`."""

    source: str = setting(help=SOURCE_HELP)
    size: int | None = setting(None, help="grid side")
    num: int | None = setting(
        None, check=count(1, MAX_GENERATED), help="generate: number of train puzzles"
    )
    num_test: int | None = setting(
        None,
        check=count(1, MAX_GENERATED),
        help="generate: number of test puzzles (default: --num)",
    )
    seed: int = setting(
        0, check=SEED, help="seed of every random draw (each draw has its own stream)"
    )
    num_aug: int = setting(help="augmentations per train puzzle")
    subsample: int | None = setting(
        None, check=count(1), help="keep this many random train puzzles (before augmentation)"
    )
    test_subsample: int | None = setting(
        None, check=count(1), help="keep this many random test puzzles (default: all)"
    )
    hf_timeout: float = setting(
        pc.DEFAULT_HF_TIMEOUT_S,
        check=positive(MAX_HF_TIMEOUT_S),
        help="give up a Hub download after this many seconds",
        config=False,
    )


class GridKind:
    """One kind of grid dataset: `prepare` is the build both share; a subclass (Sudoku, Maze)
    supplies what differs by overriding its other methods."""

    name: str  # the dataset kind (trm.kinds)
    noun: str  # what its puzzles are called in messages
    default_size: int  # the side of generated grids when --size is not given
    generate_only: tuple[str, ...] = ("num", "num_test")  # settings only `generate` reads

    def params(self, s: Any) -> dict[str, Any]:
        """Manifest params of this kind, recorded for every source."""
        return {}

    def generate_params(self, s: Any, size: int) -> dict[str, Any]:
        """Manifest params of this kind that apply to `--source generate` only."""
        return {}

    def generate(self, s: Any, size: int, n: int, progress: bool) -> list[pc.Record]:
        """`n` distinct generated puzzles as CSV records."""
        raise NotImplementedError

    def parse(
        self, s: Any, rows: pc.PuzzleRows, size: int | None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """(questions, answers, size) from checked CSV rows; `size` None: from the first row."""
        raise NotImplementedError

    def keep(
        self, s: Any, rows: pc.PuzzleRows, q: np.ndarray, a: np.ndarray, counts: dict[str, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows a filter keeps (before subsampling), adding its count to `counts`."""
        return q, a

    def examples(self, s: Any, grids: Grids, size: int, num_aug: int, progress: bool) -> Grids:
        """Token rows [N*(1+num_aug), cells]: each puzzle followed by its augmentations."""
        raise NotImplementedError

    def vocab_size(self, size: int) -> int:
        raise NotImplementedError

    def metadata(self, size: int) -> dict[str, Any] | None:
        """Keys dataset.json carries beyond the reference's (None: the reference's exactly)."""
        return None

    def puzzle_info(self, s: Any, size: int) -> dict[str, Any]:
        """DIR/puzzle_info.json: the grid and its tokens."""
        raise NotImplementedError

    def prepare(
        self,
        s: Any,
        out: str | os.PathLike,
        *,
        command: str,
        progress: bool = True,
        check_inputs: Callable[[Iterable[Path]], None] | None = None,
    ) -> dict[str, Any]:
        """Build the dataset `s` describes into `out` (atomically); returns the manifest.

        `command` is recorded in the manifest; `check_inputs` is called with the files read
        (a csv: folder, the downloaded CSVs) before anything is written to `out`.
        """
        spec = pc.parse_source(s.source)
        if spec.kind == "csv" and check_inputs is not None:
            check_inputs([Path(spec.location)])
        params: dict[str, Any] = {
            "source": s.source,
            "seed": s.seed,
            "num_aug": s.num_aug,
            "subsample": s.subsample,
            "test_subsample": s.test_subsample,
            **self.params(s),
        }
        size, num_test = s.size, s.num_test
        if spec.kind == "generate":
            if s.num is None:
                raise InputError(f"--source generate needs --num (number of training {self.noun})")
            size = self.default_size if size is None else size
            num_test = s.num if num_test is None else num_test
            params.update(size=size, num=s.num, num_test=num_test, **self.generate_params(s, size))
        elif any(getattr(s, name) is not None for name in self.generate_only):
            raise InputError(f"{_options(self.generate_only)} apply only to --source generate")
        with atomic_dir(out) as tmp:
            rows, inputs = pc.load_split_rows(
                spec,
                tmp,
                lambda n_train: self.generate(s, size, n_train + num_test, progress),
                s.num,
                s.hf_timeout,
                progress,
            )
            if check_inputs is not None:
                check_inputs(inputs.values())
            counts: dict[str, dict] = {}
            grid_size = size  # None: taken from the first row; given: every row must match
            for split in pc.SPLITS:
                q, a, grid_size = self.parse(s, rows[split], grid_size)
                split_counts: dict[str, int] = {"csv_rows": len(rows[split])}
                q, a = self.keep(s, rows[split], q, a, split_counts)
                q, a = pc.subsample_split(q, a, split, s.subsample, s.test_subsample, s.seed)
                if len(q) == 0:
                    raise InputError(
                        f"{rows[split].path}: no {self.noun} left for the {split} split"
                    )
                k = s.num_aug if split == "train" else 0
                inputs_, labels = self.examples(s, (q, a), grid_size, k, progress)
                split_counts.update(
                    pc.write_single_example_split(
                        tmp,
                        split,
                        inputs_,
                        labels,
                        1 + k,
                        self.vocab_size(grid_size),
                        self.metadata(grid_size),
                    )
                )
                counts[split] = split_counts
            pc.write_identifiers(tmp)
            write_json(tmp / "puzzle_info.json", self.puzzle_info(s, grid_size))
            params["grid_size"] = grid_size
            return write_manifest(tmp, command=command, params=params, inputs=inputs, counts=counts)


def _options(names: Iterable[str]) -> str:
    flags = ["--" + n.replace("_", "-") for n in names]
    return flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} and {flags[-1]}"
