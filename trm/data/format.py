"""The on-disk dataset format shared with the reference code.

DIR/{train,test}/all__{inputs,labels,puzzle_identifiers,puzzle_indices,group_indices}.npy
DIR/{train,test}/dataset.json, DIR/identifiers.json, and (ARC) DIR/test_puzzles.json.

puzzle_indices[p]..puzzle_indices[p+1] are the example rows of puzzle p; group_indices[g]..
group_indices[g+1] are the puzzles of group g (a task and its augmentations form one group).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from trm.errors import InputError, InputNotFoundError
from trm.utils import read_json

FIELDS: tuple[str, ...] = (
    "inputs",
    "labels",
    "puzzle_identifiers",
    "puzzle_indices",
    "group_indices",
)
SET_NAME = "all"


@dataclass
class DatasetMetadata:
    """dataset.json, with the reference's keys in the reference's order."""

    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    total_puzzles: int
    sets: list[str] = field(default_factory=lambda: [SET_NAME])

    def to_json(self) -> dict:
        return asdict(self)


def array_path(root: str | os.PathLike, split: str, name: str, set_name: str = SET_NAME) -> Path:
    return Path(root) / split / f"{set_name}__{name}.npy"


def write_metadata(root: str | os.PathLike, split: str, meta: DatasetMetadata) -> None:
    d = Path(root) / split
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "dataset.json", "w") as f:
        json.dump(meta.to_json(), f)


def read_metadata(root: str | os.PathLike, split: str) -> DatasetMetadata:
    path = Path(root) / split / "dataset.json"
    if not path.exists():
        raise InputNotFoundError(
            f"dataset metadata not found: {path} (is {root} a prepared dataset?)"
        )
    raw = read_json(path, "dataset metadata")
    known = {k: raw[k] for k in DatasetMetadata.__dataclass_fields__ if k in raw}
    missing = set(DatasetMetadata.__dataclass_fields__) - set(known) - {"total_puzzles", "sets"}
    if missing:
        raise InputError(f"{path}: missing field(s) {sorted(missing)}")
    known.setdefault("total_puzzles", int(raw.get("total_puzzles", 0)))
    return DatasetMetadata(**known)


def load_split(
    root: str | os.PathLike, split: str, set_name: str = SET_NAME, mmap: bool = True
) -> dict[str, np.ndarray]:
    """The five arrays of one split; memory-mapped by default (ARC train arrays reach GB)."""
    out = {}
    for name in FIELDS:
        p = array_path(root, split, name, set_name)
        if not p.exists():
            raise InputNotFoundError(f"dataset array not found: {p}")
        out[name] = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    return out


BLANK_NAME = "<blank>"  # the name of identifier 0 (and of any unused one) in identifiers.json


def read_identifiers(root: str | os.PathLike) -> list[str]:
    """identifiers.json: a list of puzzle names, index = identifier. A name listed twice would
    give two puzzles one name (scoring, --puzzle-ids-from and `trm adapt` map by name)."""
    path = Path(root) / "identifiers.json"
    names = read_json(path, "identifiers")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: expected a list of puzzle names")
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        j = first.setdefault(name, i)
        if j != i and name != BLANK_NAME:
            raise InputError(
                f"{path}: name {name!r} is listed twice (identifiers {j} and {i}): every puzzle "
                "needs its own name"
            )
    return names
