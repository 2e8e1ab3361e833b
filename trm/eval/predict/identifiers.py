"""What the model is fed as each example's puzzle identifier (`trm predict --puzzle-ids`,
`--puzzle-ids-from`). The predictions file always keeps the dataset's own identifiers, so
scoring is unchanged; only the model's input changes.

Modes (the puzzle-ID ablation):

- `true`: the dataset's identifiers (the normal prediction).
- `blank`: identifier 0, the reference's blank identifier (its embedding row is never trained).
- `random`: for every identifier a seeded random *other* valid identifier (1..N-1), the same
  one for every example of that puzzle, so the model sees a real learned embedding of some
  other puzzle.
- `mean`: the mean of all learned embedding rows (1..N-1), fed through the blank row, which is
  overwritten with that mean in the loaded model (the checkpoint file is not touched).

Another dataset's identifiers (`--puzzle-ids-from TRAIN`): a model learns one embedding row per
identifier of the dataset it was trained on; one trained without augmentation (num_aug 0) has
rows only for the un-augmented tasks. Every test puzzle of the evaluated dataset is mapped to
an identifier of TRAIN by name: the puzzle's own name when TRAIN has it (the same build: the
identity mapping), else its task's canonical, un-augmented name (`<task>|||t<d>|||<perm>` ->
`<task>`). The mode then applies in TRAIN's identifier space.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trm.data.augment import NAME_SEP
from trm.errors import InputError, UserError

PUZZLE_ID_MODES: tuple[str, ...] = ("true", "blank", "random", "mean")
BLANK_ID = 0
UNUSED = -1  # name-mapping table entry of an identifier no test example uses


def replacement_table(mode: str, num_identifiers: int, seed: int = 0) -> np.ndarray:
    """[num_identifiers] int32: the identifier fed to the model for each dataset identifier."""
    ids = np.arange(num_identifiers, dtype=np.int64)
    if mode == "true":
        return ids.astype(np.int32)
    if mode in ("blank", "mean"):
        return np.full(num_identifiers, BLANK_ID, dtype=np.int32)
    if mode != "random":
        raise ValueError(f"puzzle-identifier mode {mode!r} is not one of {PUZZLE_ID_MODES}")
    if num_identifiers < 3:
        raise UserError(
            f"--puzzle-ids random needs at least 2 puzzles, the dataset has {num_identifiers - 1}"
        )
    # a shift in 1..N-2 within the valid ids 1..N-1 never maps an identifier onto itself
    shift = np.random.default_rng(seed).integers(1, num_identifiers - 1, size=num_identifiers)
    table = 1 + (ids - 1 + shift) % (num_identifiers - 1)
    table[BLANK_ID] = BLANK_ID
    return table.astype(np.int32)


def use_mean_embedding(model: object) -> None:
    """Overwrite the model's blank embedding row with the mean of the learned rows 1..N-1."""
    import torch

    emb = getattr(model, "puzzle_emb", None)
    if emb is None:
        raise UserError("--puzzle-ids mean: this model has no puzzle embedding (puzzle_emb_ndim 0)")
    with torch.no_grad():
        emb.weights[BLANK_ID] = emb.weights[BLANK_ID + 1 :].mean(dim=0)


# ---- identifiers of another dataset, by puzzle name --------------------------------------------


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


def training_metadata(data_dir: Path, test_meta: Any, ids_dir: Path) -> Any:
    """The training dataset's metadata, after checking its rows fit the evaluated dataset's."""
    from trm.data.format import read_metadata

    train_meta = read_metadata(ids_dir, "train")
    for field in ("seq_len", "vocab_size"):
        if getattr(train_meta, field) != getattr(test_meta, field):
            raise UserError(
                f"--puzzle-ids-from {ids_dir}: {field} {getattr(train_meta, field)} in "
                f"train/dataset.json, {getattr(test_meta, field)} in {data_dir}/test/dataset.json: "
                "the datasets' rows are not the same format"
            )
    return train_meta


# ---- the identifiers fed to the model ------------------------------------------------------------


@dataclass
class ModelIdentifiers:
    """What the model is fed for each example row, and how it was derived."""

    ids: np.ndarray  # [n] identifiers in the model's embedding table
    mapping: NameMapping | None  # by name from another dataset, or None

    def record(self) -> dict[str, Any]:
        """The meta record's account of the mapping."""
        return {"puzzle_id_mapping": self.mapping.summary() if self.mapping else None}


def model_identifiers(
    row_ids: np.ndarray,
    *,
    mode: str,
    seed: int,
    num_identifiers: int,
    data_dir: Path,
    ids_dir: Path | None,
) -> ModelIdentifiers:
    """The identifier fed to the model for each row of `row_ids` (the dataset's): mapped by
    name into `ids_dir`'s identifier space when given, then replaced as `mode` says.
    `num_identifiers`: the model's embedding rows (those of the dataset it was trained on)."""
    ids = np.asarray(row_ids, dtype=np.int64)
    mapping = None
    if ids_dir is not None:
        mapping = map_by_name(data_dir, ids_dir, ids)
        ids = mapping.table[ids].astype(np.int64)
    table = replacement_table(mode, num_identifiers, seed)
    return ModelIdentifiers(ids=table[ids], mapping=mapping)
