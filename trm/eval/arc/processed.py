"""Prediction rows processed once: cropped, un-augmented, hashed and matched to test inputs.

Inputs are matched to test inputs the other way round from answers: the expected hash of each
test input under each augmentation is computed from per-colour weight sums, so input rows need
only a plain hash. Voting over any subset of rows reuses the result.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trm.data.augment import dihedral_transform, inverse_dihedral_transform
from trm.data.format import read_metadata
from trm.errors import UserError
from trm.eval.arc.hashing import (
    _W,
    canvas_side,
    crop_sizes,
    crop_tokens,
    hash_blocks,
    inverse_perm_from_name,
    sigmoid64,
)
from trm.eval.arc.testset import ArcTestSet, load_arc_test_set
from trm.eval.predictions import (
    check_covers_dataset,
    check_prediction_values,
    dataset_row_identifiers,
    read_predictions,
)


@dataclass
class ProcessedPredictions:
    """Per-row results of the expensive pass; voting over any subset of rows reuses them."""

    test_set: ArcTestSet
    puzzle_identifiers: np.ndarray  # [N]
    pred_tokens: np.ndarray  # [N, seq_len]: 900 = 30x30, or the dataset's N x N canvas
    input_index: np.ndarray  # [N] test input of each row, -1 when its input matches none
    pred_shape: np.ndarray  # [N] canonical answer shape code (height * 32 + width)
    pred_keys: np.ndarray  # [N, 2] canonical answer hashes
    q: np.ndarray  # [N] float64 sigmoid(q_halt)
    aug_rank: np.ndarray  # [N] 0 = un-augmented copy, k = k-th augmented copy of its task


def process_predictions(
    data_dir: str | os.PathLike, pred_path: str | os.PathLike, progress: bool = True
) -> ProcessedPredictions:
    """Load and validate predictions, then crop, un-augment and hash every row (the costly part)."""
    data_dir = Path(data_dir)
    meta = read_metadata(data_dir, "test")
    expected_ids = dataset_row_identifiers(data_dir)
    preds = read_predictions(pred_path, data_dir)
    # the canvas is the dataset's (30x30 in the reference layout)
    side = canvas_side(meta.seq_len, f"{data_dir}/test/dataset.json: field seq_len")
    if preds.inputs.shape[1] != meta.seq_len:
        raise UserError(
            f"{pred_path}: field inputs has rows of {preds.inputs.shape[1]} tokens; the dataset "
            f"{data_dir} has {meta.seq_len} ({side}x{side} canvas): predictions of another dataset?"
        )
    check_prediction_values(preds, meta.vocab_size)
    pids = np.asarray(preds.puzzle_identifiers).astype(np.int64)
    arrays = [preds.inputs, preds.preds, preds.q_halt_logits]
    keep = pids != meta.blank_identifier_id
    if not keep.all():  # padding rows (batch filler): dropped, as the reference drops them
        pids = pids[keep]
        arrays = [np.asarray(a)[keep] for a in arrays]
    check_covers_dataset(pids, expected_ids, pred_path, data_dir)
    # parsing identifiers (Python) overlaps the predictions' crop (numpy, GIL released)
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(load_arc_test_set, data_dir, expected_ids)
        pred_sizes = crop_sizes(arrays[1])
        ts = loading.result()
    processed = process_arrays(ts, pids, *arrays, progress=progress, pred_sizes=pred_sizes)
    # every row's input must be its puzzle's (augmented) test input: a file whose identifiers
    # are permuted against its inputs (another dataset build) would otherwise vote nothing
    unmatched = np.flatnonzero(processed.input_index < 0)
    if unmatched.size:
        row = int(np.flatnonzero(keep)[unmatched[0]])
        raise UserError(
            f"{pred_path}: field inputs does not match puzzle_identifiers at {unmatched.size} "
            f"row(s), first row {row} (identifier {int(pids[unmatched[0]])}): predictions from "
            f"another build of {data_dir}?"
        )
    _refuse_repeated_rows(processed, np.flatnonzero(keep), pred_path)
    return processed


def _refuse_repeated_rows(pp: ProcessedPredictions, rows: np.ndarray, pred_path: object) -> None:
    """One row per test example: a row repeated in place of another example of its puzzle
    keeps the identifiers' count right but votes twice for one input and never for the other.
    (Identical test inputs of one task share an alias; they may each have their row.)"""
    ts = pp.test_set
    n_in = max(len(ts.input_grids), 1)
    allowed = np.bincount(ts.input_alias, minlength=n_in)  # test inputs per alias
    key = pp.puzzle_identifiers * n_in + pp.input_index
    uniq, counts = np.unique(key, return_counts=True)
    over = uniq[counts > allowed[uniq % n_in]]
    if over.size:
        first, second = np.flatnonzero(key == over[0])[:2]
        pid, j = divmod(int(over[0]), n_in)
        raise UserError(
            f"{pred_path}: rows {int(rows[first])} and {int(rows[second])} both answer test "
            f"input {j - int(ts.task_first_input[ts.input_task[j]])} of puzzle "
            f"{ts.identifiers[pid]!r}: a repeated row (predictions hold each test example once)"
        )


def process_pooled(
    data_dir: str | os.PathLike,
    pred_paths: str | os.PathLike | list[str | os.PathLike],
    progress: bool = True,
) -> ProcessedPredictions:
    """`process_predictions` of one file, or of several pooled into one vote (checkpoint
    ensembles): rows are concatenated in the order given, as the reference evaluator accumulates
    predictions across evaluations when it is not reset between them."""
    paths = [pred_paths] if isinstance(pred_paths, (str, os.PathLike)) else list(pred_paths)
    if not paths:
        raise UserError("no predictions file given")
    parts = [process_predictions(data_dir, p, progress=progress) for p in paths]
    if len(parts) == 1:
        return parts[0]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(p, name)) for p in parts])

    return ProcessedPredictions(
        test_set=parts[0].test_set,
        **{
            name: cat(name)
            for name in (
                "puzzle_identifiers",
                "pred_tokens",
                "input_index",
                "pred_shape",
                "pred_keys",
                "q",
                "aug_rank",
            )
        },
    )


def process_arrays(
    ts: ArcTestSet,
    pids: np.ndarray,
    inputs: np.ndarray,
    preds: np.ndarray,
    q_halt_logits: np.ndarray,
    progress: bool = False,
    pred_sizes: tuple[np.ndarray, np.ndarray] | None = None,
) -> ProcessedPredictions:
    pids = np.asarray(pids, dtype=np.int64)
    if pids.size and (pids.min() < 0 or pids.max() >= len(ts.identifiers)):
        bad = pids[(pids < 0) | (pids >= len(ts.identifiers))][0]
        raise UserError(
            f"puzzle identifier {bad} is outside identifiers.json (0..{len(ts.identifiers) - 1})"
        )
    # inputs and predictions are independent; numpy releases the GIL in the heavy steps, so a
    # second thread overlaps them where a second core is free
    with ThreadPoolExecutor(max_workers=1) as pool:
        matching = pool.submit(_match_inputs, ts, pids, inputs, False)
        shape, keys = hash_blocks(
            preds, pids, ts, True, progress, "hash predictions", sizes=pred_sizes
        )
        input_index = matching.result()
    return ProcessedPredictions(
        test_set=ts,
        puzzle_identifiers=pids,
        pred_tokens=preds,
        input_index=input_index,
        pred_shape=shape,
        pred_keys=keys,
        q=sigmoid64(np.asarray(q_halt_logits)),
        aug_rank=ts.id_aug_rank[pids],
    )


def _match_inputs(
    ts: ArcTestSet, pids: np.ndarray, inputs: np.ndarray, progress: bool
) -> np.ndarray:
    """Test input of each row: same task and equal inverse-augmented input grid, else -1.

    inverse(crop(row)) == T  <=>  crop(row) == augment(T), and the hash of augment(T) is
    sum over colours c of (perm[c] + 1) * S[T, tid, c], where S sums the weights of the cells of
    dihedral(T, tid) that hold colour c: so only the rows' plain hashes are needed.
    """
    n_in = len(ts.input_grids)
    sums = np.zeros((n_in, 8, 10, 2), dtype=np.uint64)
    shapes = np.zeros((n_in, 8), dtype=np.int64)
    colours = np.arange(10)
    for j, grid in enumerate(ts.input_grids):
        for tid in range(8):
            moved = dihedral_transform(grid, tid)
            a, b = moved.shape
            shapes[j, tid] = a * 32 + b
            onehot = moved.reshape(-1, 1) == colours  # [cells, 10]
            wts = _W[:, :a, :b].reshape(2, -1)  # [2, cells]
            sums[j, tid] = (onehot.T.astype(np.uint64) @ wts.T).astype(np.uint64)
    row_shape, row_keys = hash_blocks(
        inputs, pids, ts, canonical=False, progress=progress, desc="hash inputs"
    )

    task = ts.id_task[pids]
    tids = ts.id_tid[pids]
    weight = ts.id_perm[pids].astype(np.uint64) + np.uint64(1)  # [n, 10]
    index = np.full(len(pids), -1, dtype=np.int64)
    has_task = task >= 0
    safe_task = np.where(has_task, task, 0)
    for slot in range(int(ts.task_n_inputs.max(initial=0))):
        cand = has_task & (slot < ts.task_n_inputs[safe_task]) & (index < 0)
        if not cand.any():
            continue
        rows = np.flatnonzero(cand)
        j = ts.task_first_input[safe_task[rows]] + slot
        t = tids[rows]
        expected = np.einsum("nc,nck->nk", weight[rows], sums[j, t])
        hit = (row_shape[rows] == shapes[j, t]) & np.all(row_keys[rows] == expected, axis=1)
        index[rows[hit]] = ts.input_alias[j[hit]]
    return index


def answer_grid(pp: ProcessedPredictions, row: int) -> np.ndarray:
    """The inverse-augmented answer grid of prediction row `row` (the reference's way)."""
    _, tid, inv_perm = inverse_perm_from_name(
        pp.test_set.identifiers[int(pp.puzzle_identifiers[row])]
    )
    grid = crop_tokens(np.asarray(pp.pred_tokens[row]))
    if inv_perm is not None:
        grid = inv_perm[inverse_dihedral_transform(grid, tid)]
    return np.ascontiguousarray(grid)
