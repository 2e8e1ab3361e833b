"""The test-set side of ARC voting: identifiers.json and test_puzzles.json, parsed once.

For every identifier: its task, dihedral id, colour permutation and rank among the task's
augmented copies; for every test input: its task, grids, reference hashes and the first test
input of the same task with the identical grid (the reference pools votes by task and grid).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trm.data.augment import NAME_SEP
from trm.data.format import read_identifiers, read_metadata
from trm.errors import UserError
from trm.eval.arc.hashing import grid_hash, to_grid
from trm.utils import read_json


@dataclass
class ArcTestSet:
    """What voting needs from a prepared ARC dataset (identifiers.json + test_puzzles.json)."""

    identifiers: list[str]
    task_names: list[str]  # test_puzzles.json order
    test_puzzles: dict
    input_task: np.ndarray  # [n_inputs] task of each test input (task order, then pair order)
    input_grids: list[np.ndarray]
    label_grids: list[np.ndarray]
    input_hash_hex: list[str]
    label_hash_hex: list[str]
    task_first_input: np.ndarray  # [n_tasks]
    task_n_inputs: np.ndarray  # [n_tasks]
    # first test input of the same task with the identical input grid (itself when unique):
    # the reference pools votes by (task, input grid), so such test inputs share one pool
    input_alias: np.ndarray
    id_task: np.ndarray  # [num_identifiers] task index, -1 when the task is not a test puzzle
    id_tid: np.ndarray  # [num_identifiers] dihedral id of the augmentation
    id_perm: np.ndarray  # [num_identifiers, 10] colour map of the augmentation (c -> perm[c])
    id_aug_rank: np.ndarray  # [num_identifiers] 0 = un-augmented, k = k-th augmented copy
    blank_identifier_id: int = 0


def load_arc_test_set(
    data_dir: str | os.PathLike, used_ids: np.ndarray | None = None
) -> ArcTestSet:
    """Read identifiers.json, test_puzzles.json and test/dataset.json of a prepared ARC dataset.

    `used_ids` limits name parsing to those identifiers (the test split's: identifiers.json
    also lists every training puzzle); the others get task -1.
    """
    data_dir = Path(data_dir)
    meta = read_metadata(data_dir, "test")
    identifiers = read_identifiers(data_dir)
    tp_path = data_dir / "test_puzzles.json"
    if not tp_path.exists():
        raise UserError(f"test puzzles not found: {tp_path} (is {data_dir} an ARC dataset?)")
    test_puzzles = read_json(tp_path, "test puzzles")

    task_names = list(test_puzzles)
    task_index = {n: i for i, n in enumerate(task_names)}
    in_task, in_grids, lab_grids, n_inputs, first = [], [], [], [], []
    for t, name in enumerate(task_names):
        pairs = test_puzzles[name].get("test") if isinstance(test_puzzles[name], dict) else None
        if not pairs:
            raise UserError(f"{tp_path}: task {name} has no 'test' pairs")
        first.append(len(in_task))
        n_inputs.append(len(pairs))
        for j, pair in enumerate(pairs):
            for fld, dst in (("input", in_grids), ("output", lab_grids)):
                if fld not in pair:
                    raise UserError(f"{tp_path}: task {name} test pair {j} has no '{fld}'")
                try:
                    dst.append(to_grid(pair[fld]))
                except ValueError as e:
                    raise UserError(
                        f"{tp_path}: task {name} test pair {j} field '{fld}': {e}"
                    ) from e
            in_task.append(t)

    id_task, id_tid, id_perm, id_aug = _parse_identifiers(
        identifiers, task_index, data_dir / "identifiers.json", meta.blank_identifier_id, used_ids
    )
    n_ids = len(identifiers)
    aug_ids = np.flatnonzero(id_aug & (id_task >= 0))
    aug_rank = np.zeros(n_ids, dtype=np.int64)
    # k-th augmented copy of a task in identifier order (= the order the builder generated them)
    aug_rank[aug_ids] = rank_within(id_task[aug_ids], np.arange(aug_ids.size))

    alias_of: dict[tuple[int, bytes, tuple[int, int]], int] = {}
    alias = [
        alias_of.setdefault((t, g.tobytes(), g.shape), j)
        for j, (t, g) in enumerate(zip(in_task, in_grids, strict=True))
    ]
    return ArcTestSet(
        identifiers=identifiers,
        task_names=task_names,
        test_puzzles=test_puzzles,
        input_task=np.asarray(in_task, dtype=np.int64),
        input_grids=in_grids,
        label_grids=lab_grids,
        input_hash_hex=[grid_hash(g) for g in in_grids],
        label_hash_hex=[grid_hash(g) for g in lab_grids],
        task_first_input=np.asarray(first, dtype=np.int64),
        task_n_inputs=np.asarray(n_inputs, dtype=np.int64),
        input_alias=np.asarray(alias, dtype=np.int64),
        id_task=id_task,
        id_tid=id_tid,
        id_perm=id_perm,
        id_aug_rank=aug_rank,
        blank_identifier_id=meta.blank_identifier_id,
    )


def _parse_identifiers(
    identifiers: list[str],
    task_index: dict[str, int],
    path: Path,
    blank_id: int,
    used_ids: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(task index, dihedral id, colour map, is augmented) per identifier, vectorised.

    Names are `<task>` or `<task>|||t<d>|||<10 digits>`; the tails of augmented names are
    checked and decoded as one byte array.
    """
    n_ids = len(identifiers)
    id_task = np.full(n_ids, -1, dtype=np.int64)
    id_tid = np.zeros(n_ids, dtype=np.int64)
    id_perm = np.tile(np.arange(10, dtype=np.uint8), (n_ids, 1))
    id_aug = np.zeros(n_ids, dtype=bool)
    if used_ids is None:
        ids = np.arange(n_ids)
    else:
        used = np.asarray(used_ids, dtype=np.int64)
        mask = np.zeros(n_ids, dtype=bool)
        mask[used[(used >= 0) & (used < n_ids)]] = True
        ids = np.flatnonzero(mask)
    ids = ids[ids != blank_id]
    names = [identifiers[i] for i in ids.tolist()]
    is_aug = [NAME_SEP in n for n in names]
    bases = [n[:-18] if a else n for n, a in zip(names, is_aug, strict=True)]
    id_task[ids] = [task_index.get(b, -1) for b in bases]
    aug_ids = ids[np.asarray(is_aug, dtype=bool)]
    if aug_ids.size:
        # the 18-character tail "|||t<d>|||<10 digits>" of every augmented name, as bytes
        tails = [n[-18:] for n, a in zip(names, is_aug, strict=True) if a]
        raw = np.frombuffer("".join(tails).encode("latin-1", "replace"), dtype=np.uint8)
        ok = np.zeros(len(tails), dtype=bool)
        if raw.size == 18 * len(tails):
            b = raw.reshape(-1, 18)
            digits = b[:, 8:].astype(np.int64) - ord("0")
            ok = (
                np.all(b[:, 0:3] == ord("|"), axis=1)
                & (b[:, 3] == ord("t"))
                & (b[:, 4] >= ord("0"))
                & (b[:, 4] <= ord("7"))
                & np.all(b[:, 5:8] == ord("|"), axis=1)
                & np.all(np.sort(digits, axis=1) == np.arange(10), axis=1)
            )
        if not ok.all():
            bad = (
                int(aug_ids[np.flatnonzero(~ok)[0]])
                if raw.size == 18 * len(tails)
                else int(aug_ids[[len(t) != 18 for t in tails].index(True)])
            )
            raise UserError(
                f"{path}: entry {bad} {identifiers[bad]!r} is not <task>|||t<0-7>|||<permutation of 0..9>"
            )
        id_tid[aug_ids] = b[:, 4].astype(np.int64) - ord("0")
        id_perm[aug_ids] = digits.astype(np.uint8)
        id_aug[aug_ids] = True
    return id_task, id_tid, id_perm, id_aug


def rank_within(groups: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """1-based rank of each item by `priority` among the items of its group."""
    order = np.lexsort((priority, groups))
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if g.size else np.zeros(0, np.int64)
    run_start = np.repeat(starts, np.diff(np.r_[starts, g.size]))
    out = np.empty(groups.size, dtype=np.int64)
    out[order] = np.arange(g.size) - run_start + 1
    return out
