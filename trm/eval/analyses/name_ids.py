"""Evaluate a checkpoint on another dataset's test split: identifiers mapped by puzzle name.

A model learns one embedding row per puzzle identifier of the dataset it was trained on. A
model trained without augmentation (num_aug 0) has rows only for the un-augmented tasks, so it
cannot be fed the identifiers of an augmented test set. `trm predict --puzzle-ids-from TRAIN`
maps every test puzzle of the evaluated dataset to an identifier of TRAIN by name:

- the puzzle's own name when TRAIN has it (the same build: the identity mapping);
- else its task's canonical, un-augmented name (`<task>|||t<d>|||<perm>` -> `<task>`).

So a 0x-trained model sees every augmented view with its task's embedding, the views' grids are
the evaluated dataset's (inverse-augmented voting is unchanged), and models trained on
different augmentation levels are scored on the same test examples. The predictions file keeps
the evaluated dataset's identifiers; the meta record names TRAIN and the mapping counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trm.data.augment import NAME_SEP
from trm.errors import InputError

UNUSED = -1  # table entry of an identifier no test example uses


class PuzzleNameMappingError(InputError):
    """A test puzzle's task has no identifier in the dataset the checkpoint was trained on."""


@dataclass
class NameMapping:
    """[num identifiers of the evaluated dataset] -> identifier of the training dataset."""

    table: np.ndarray  # int32; UNUSED where no test example has that identifier
    exact: int  # test puzzles found under their own name
    canonical: int  # test puzzles found under their task's un-augmented name

    def summary(self) -> dict[str, int]:
        return {"puzzles_by_own_name": self.exact, "puzzles_by_task_name": self.canonical}


def canonical_name(name: str) -> str:
    """The un-augmented task name of a puzzle name (a plain name is its own)."""
    return name.split(NAME_SEP, 1)[0]


def _identifiers(data_dir: Path) -> list[str]:
    from trm.data.format import read_identifiers

    names = read_identifiers(data_dir)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{data_dir}/identifiers.json: expected a list of puzzle names")
    return names


def map_by_name(
    eval_dir: str | os.PathLike, train_dir: str | os.PathLike, used_ids: np.ndarray
) -> NameMapping:
    """The identifier of `train_dir` for every identifier in `used_ids` of `eval_dir`.

    Raises PuzzleNameMappingError naming both datasets (and a few missing tasks) when a test
    puzzle has neither its own name nor its task's name in `train_dir`.
    """
    eval_dir, train_dir = Path(eval_dir), Path(train_dir)
    eval_names = _identifiers(eval_dir)
    train_index = {name: i for i, name in enumerate(_identifiers(train_dir))}
    table = np.full(len(eval_names), UNUSED, dtype=np.int32)
    used = np.unique(np.asarray(used_ids, dtype=np.int64))
    if used.size and (used[0] < 0 or used[-1] >= len(eval_names)):
        raise InputError(
            f"{eval_dir}: test puzzle identifiers reach {int(used[-1])}, identifiers.json lists "
            f"{len(eval_names)} names"
        )
    exact = canonical = 0
    missing: list[str] = []
    for i in used.tolist():
        name = eval_names[i]
        if name in train_index:
            table[i], exact = train_index[name], exact + 1
        elif canonical_name(name) in train_index:
            table[i], canonical = train_index[canonical_name(name)], canonical + 1
        else:
            missing.append(canonical_name(name))
    if missing:
        tasks = sorted(set(missing))
        raise PuzzleNameMappingError(
            f"{eval_dir}/identifiers.json: {len(tasks)} test task(s) have no identifier in "
            f"{train_dir}/identifiers.json (the checkpoint's training dataset), e.g. "
            f"{', '.join(tasks[:5])}: train on a dataset that holds the evaluated test tasks"
        )
    return NameMapping(table=table, exact=exact, canonical=canonical)
