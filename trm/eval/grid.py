"""Sudoku and Maze: whole-grid (exact) and cell accuracy of predictions against the test labels."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trm.data.format import load_split, read_metadata
from trm.errors import UserError
from trm.eval.predictions import check_prediction_values, read_predictions


@dataclass
class GridAccuracy:
    """Per-example correctness of token predictions against a dataset's labels."""

    exact: np.ndarray  # [N] bool: every scored cell right
    cell_fraction: np.ndarray  # [N] fraction of scored cells right (the reference's "accuracy")
    cells_right: np.ndarray  # [N]
    cells_scored: np.ndarray  # [N]


def grid_accuracy(
    data_dir: str | os.PathLike, pred_path: str | os.PathLike, chunk: int = 65536
) -> GridAccuracy:
    """Compare predictions with the test labels of a Sudoku / Maze dataset, row for row.

    Cells whose label is the dataset's ignore_label_id are not scored (as the reference loss).
    Rows must be the test examples in dataset order (their inputs are checked).
    """
    data_dir = Path(data_dir)
    meta = read_metadata(data_dir, "test")
    arrays = load_split(data_dir, "test")
    labels, ds_inputs = arrays["labels"], arrays["inputs"]
    pred_path = Path(pred_path)
    data = read_predictions(pred_path, data_dir)
    preds, inputs = data.preds, data.inputs
    check_prediction_values(data, meta.vocab_size)
    if preds.shape != labels.shape:
        raise UserError(
            f"{pred_path}: preds have shape {preds.shape}, but dataset {data_dir}/test has labels {labels.shape} "
            "(one row per test example, same sequence length)"
        )
    if inputs.shape != ds_inputs.shape:
        raise UserError(
            f"{pred_path}: inputs have shape {inputs.shape}, dataset {data_dir}/test has {ds_inputs.shape}"
        )
    n = len(labels)
    exact = np.empty(n, dtype=bool)
    right = np.empty(n, dtype=np.int64)
    scored = np.empty(n, dtype=np.int64)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        mismatch = np.flatnonzero(
            np.any(np.asarray(inputs[s:e]) != np.asarray(ds_inputs[s:e]), axis=1)
        )
        if mismatch.size:
            raise UserError(
                f"{pred_path}: row {s + int(mismatch[0])}: inputs differ from dataset {data_dir}/test "
                "(predictions must list the test examples in dataset order)"
            )
        lab = np.asarray(labels[s:e])
        mask = (
            np.ones(lab.shape, dtype=bool)
            if meta.ignore_label_id is None
            else lab != meta.ignore_label_id
        )
        ok = mask & (np.asarray(preds[s:e]) == lab)
        right[s:e] = ok.sum(1)
        scored[s:e] = mask.sum(1)
        exact[s:e] = right[s:e] == scored[s:e]
    frac = right / np.maximum(scored, 1)
    return GridAccuracy(exact=exact, cell_fraction=frac, cells_right=right, cells_scored=scored)
