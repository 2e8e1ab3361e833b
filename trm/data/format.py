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
from trm.limits import (
    MAX_EXAMPLES,
    MAX_PUZZLE_IDENTIFIERS,
    MAX_PUZZLES,
    NpyHeader,
    check_dataset_fields,
    check_rows,
    npy_file_header,
)
from trm.utils import read_json

MAX_METADATA_BYTES = 1 << 20  # dataset.json is a few hundred bytes
MAX_IDENTIFIERS_BYTES = MAX_PUZZLE_IDENTIFIERS * 256  # ARC names take ~30 bytes each

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
    raw = read_json(path, "dataset metadata", max_bytes=MAX_METADATA_BYTES)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a JSON object of dataset fields")
    # null is missing, except where the reference allows it (no ignored label)
    known = {
        k: raw[k]
        for k in DatasetMetadata.__dataclass_fields__
        if k in raw and (raw[k] is not None or k == "ignore_label_id")
    }
    missing = set(DatasetMetadata.__dataclass_fields__) - set(known) - {"total_puzzles", "sets"}
    if missing:
        raise InputError(f"{path}: missing field(s) {sorted(missing)}")
    known = check_dataset_fields(known, f"{path}:")  # types and bounds, before any allocation
    known.setdefault("total_puzzles", 0)
    return DatasetMetadata(**known)


def check_split_headers(
    root: str | os.PathLike, split: str, set_name: str = SET_NAME
) -> dict[str, NpyHeader]:
    """The headers of a split's five arrays, checked against its dataset.json before any array
    is mapped: integer dtypes (never objects), ranks, `inputs`/`labels` of shape [rows,
    seq_len], one more puzzle index than identifiers, and the row and puzzle limits."""
    meta = read_metadata(root, split)
    heads: dict[str, NpyHeader] = {}
    for name in FIELDS:
        p = array_path(root, split, name, set_name)
        if not p.exists():
            raise InputNotFoundError(f"dataset array not found: {p}")
        head = heads[name] = npy_file_header(p)
        ndim = 2 if name in ("inputs", "labels") else 1
        if head.dtype.kind not in "iu" or len(head.shape) != ndim:
            raise InputError(
                f"{p}: expected a {ndim}-D array of integers, got shape {head.shape} of "
                f"{head.dtype}"
            )
    where = f"{Path(root) / split}"
    rows, width = heads["inputs"].shape
    if width != meta.seq_len:
        raise InputError(
            f"{array_path(root, split, 'inputs', set_name)}: rows of {width} tokens but "
            f"{where}/dataset.json has seq_len {meta.seq_len}"
        )
    if heads["labels"].shape != heads["inputs"].shape:
        raise InputError(
            f"{where}: labels shape {heads['labels'].shape} != inputs shape {heads['inputs'].shape}"
        )
    check_rows(f"{array_path(root, split, 'inputs', set_name)}", rows, MAX_EXAMPLES, "examples")
    puzzles = heads["puzzle_identifiers"].shape[0]
    check_rows(
        f"{array_path(root, split, 'puzzle_identifiers', set_name)}",
        puzzles,
        MAX_PUZZLES,
        "puzzles",
    )
    if heads["puzzle_indices"].shape[0] != puzzles + 1:
        raise InputError(
            f"{array_path(root, split, 'puzzle_indices', set_name)}: {heads['puzzle_indices'].shape[0]} "
            f"entries for {puzzles} puzzles (expected {puzzles + 1})"
        )
    groups = heads["group_indices"].shape[0] - 1
    check_rows(
        f"{array_path(root, split, 'group_indices', set_name)}", groups, MAX_PUZZLES, "groups"
    )
    return heads


def load_split(
    root: str | os.PathLike, split: str, set_name: str = SET_NAME, mmap: bool = True
) -> dict[str, np.ndarray]:
    """The five arrays of one split; memory-mapped by default (ARC train arrays reach GB).
    Their headers are checked first (check_split_headers); no array holds Python objects."""
    check_split_headers(root, split, set_name)
    out = {}
    for name in FIELDS:
        p = array_path(root, split, name, set_name)
        out[name] = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    return out


BLANK_NAME = "<blank>"  # the name of identifier 0 (and of any unused one) in identifiers.json


def read_identifiers(root: str | os.PathLike) -> list[str]:
    """identifiers.json: the puzzle names, index = identifier (bounded: at most
    MAX_PUZZLE_IDENTIFIERS names of a few hundred bytes). A name listed twice would give two
    puzzles one name (scoring, --puzzle-ids-from and `trm adapt` map by name)."""
    path = Path(root) / "identifiers.json"
    names = read_json(path, "identifiers", max_bytes=MAX_IDENTIFIERS_BYTES)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: expected a JSON list of puzzle names")
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        j = first.setdefault(name, i)
        if j != i and name != BLANK_NAME:
            raise InputError(
                f"{path}: name {name!r} is listed twice (identifiers {j} and {i}): every puzzle "
                "needs its own name"
            )
    return names
