"""The predictions file (`predictions.npz`): its fields, writer, memory-mapped reader, checks.

This module is the ONLY code that opens a predictions file; `trm predict` writes it through
`write_predictions`, scoring, the sweep and analyses read it through `read_predictions`.

Contract (DESIGN.md): `puzzle_identifiers` int32 [N], `inputs` [N, seq] (the dataset's dtype),
`preds` [N, seq], `q_halt_logits` float32 [N], one row per test example. A later field (e.g.
per-step outputs) is declared by adding one `FieldSpec(..., required=False)` to `FIELDS`.

Optional per-step trajectory (ARC, `trm predict --trajectory`), S = ACT steps run, 14 bytes per
example per step: `step_answer_shape` uint16 [N, S] (height * 32 + width of the cropped,
inverse-augmented answer, the voting's shape code), `step_answer_hash` uint64 [N, S] (the
voting's first 64-bit canonical grid hash of that answer), `step_q_halt_logits` float32 [N, S].
Column S-1 describes the same answers as `preds` and `q_halt_logits`.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trm.errors import UserError
from trm.limits import (
    MAX_EXAMPLES,
    MAX_PADDING_ROWS,
    MAX_SEQ_LEN,
    MAX_TRAJECTORY_STEPS,
    NpyHeader,
    check_rows,
    npy_header,
)
from trm.utils import atomic_path


@dataclass(frozen=True)
class FieldSpec:
    """One array of the predictions file: its name, numpy kind(s), rank and whether it is needed."""

    name: str
    kinds: str  # numpy dtype kinds accepted ("iu" = any integer, "f" = float)
    ndim: int  # the first axis is always the row (one per test example)
    required: bool = True
    write_dtype: str | None = None  # dtype the writer stores (None = keep the caller's)


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("puzzle_identifiers", "iu", 1, write_dtype="int32"),
    FieldSpec("inputs", "iu", 2),
    FieldSpec("preds", "iu", 2),
    FieldSpec("q_halt_logits", "f", 1, write_dtype="float32"),
    FieldSpec("step_answer_shape", "iu", 2, required=False, write_dtype="uint16"),
    FieldSpec("step_answer_hash", "u", 2, required=False, write_dtype="uint64"),
    FieldSpec("step_q_halt_logits", "f", 2, required=False, write_dtype="float32"),
)
STEP_FIELDS: tuple[str, ...] = ("step_answer_shape", "step_answer_hash", "step_q_halt_logits")
REQUIRED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)


@dataclass
class Predictions:
    """A validated predictions file; arrays are memory-mapped where the file allows it."""

    path: Path
    puzzle_identifiers: np.ndarray
    inputs: np.ndarray
    preds: np.ndarray
    q_halt_logits: np.ndarray
    optional: dict[str, np.ndarray] = field(default_factory=dict)  # declared optional fields

    def __len__(self) -> int:
        return len(self.puzzle_identifiers)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field present, by name."""
        out = {f.name: getattr(self, f.name) for f in FIELDS if f.required}
        out.update(self.optional)
        return out


def write_predictions(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write a predictions file atomically, uncompressed (so readers can memory-map it).

    Keyword arguments are the declared fields; unknown names are refused.
    """
    known = {f.name: f for f in FIELDS}
    unknown = sorted(set(arrays) - set(known))
    if unknown:
        raise ValueError(
            f"write_predictions: undeclared field(s) {unknown} (declared: {list(known)})"
        )
    missing = [n for n in REQUIRED if n not in arrays]
    if missing:
        raise ValueError(f"write_predictions: missing field(s) {missing}")
    out = {}
    for name, arr in arrays.items():
        spec = known[name]
        out[name] = np.asarray(arr, dtype=spec.write_dtype) if spec.write_dtype else np.asarray(arr)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **out)


@dataclass(frozen=True)
class RowBounds:
    """What a predictions file may hold, known before any member is read: at most `rows` rows
    (`why` says where that comes from) of exactly `seq_len` tokens when known."""

    rows: int
    seq_len: int | None
    why: str


ANY_DATASET = RowBounds(MAX_EXAMPLES, None, "the limit on the examples of a dataset split")


def dataset_bounds(data_dir: str | os.PathLike) -> RowBounds:
    """The bounds the test split of `data_dir` implies (read from its .npy headers only): one
    row per test example, plus the blank rows a reference evaluation pads its last batch with."""
    from trm.data.format import check_split_headers

    n, seq_len = check_split_headers(data_dir, "test")["inputs"].shape
    why = f"{n:,} test examples of {data_dir} + {MAX_PADDING_ROWS:,} padding rows"
    return RowBounds(n + MAX_PADDING_ROWS, seq_len, why)


def _check_header(path: Path, spec: FieldSpec, head: NpyHeader, bounds: RowBounds) -> None:
    """A member's header against its declaration and the bounds, before its data is read."""
    where = f"{path}: field '{spec.name}'"
    if len(head.shape) != spec.ndim:
        raise UserError(f"{where} must be {spec.ndim}-D, got shape {head.shape}")
    if head.dtype.kind not in spec.kinds:
        what = {"iu": "integers", "u": "unsigned integers"}.get(spec.kinds, "floats")
        raise UserError(f"{where} must hold {what}, got {head.dtype}")
    check_rows(where, head.shape[0], bounds.rows, bounds.why)
    if spec.ndim == 2 and spec.name in STEP_FIELDS:
        if head.shape[1] > MAX_TRAJECTORY_STEPS:
            raise UserError(
                f"{where}: {head.shape[1]:,} steps exceeds the limit of {MAX_TRAJECTORY_STEPS:,}"
            )
    elif spec.ndim == 2:
        # a dataset's seq_len is itself bounded by MAX_SEQ_LEN (trm.limits), so one limit applies
        limit = bounds.seq_len or MAX_SEQ_LEN
        if head.shape[1] > limit:
            why = ""
            if bounds.seq_len:
                side = math.isqrt(limit)
                canvas = f", {side}x{side} canvas" if side * side == limit else ""
                why = f" (the dataset's seq_len{canvas}): predictions of another dataset?"
            raise UserError(
                f"{where}: rows of {head.shape[1]:,} tokens exceed the limit of {limit:,}{why}"
            )


def _npz_arrays(path: Path, bounds: RowBounds) -> dict[str, np.ndarray]:
    """The declared fields of an .npz; stored (uncompressed) members are memory-mapped.

    Every member's header is read and checked first (declaration, object dtype, bounds, the
    length the archive records), so a small file that decompresses into gigabytes is refused
    before anything is decompressed; undeclared members are never read. np.load would read
    each member through zipfile (a copy and a CRC over ~1.7 GB for the full ARC evaluation
    set, most of the scoring time); a memory map reads only what is used.
    """
    known = {f.name: f for f in FIELDS}
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        members = {}
        for info in zf.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if key in known:
                members[key] = info
        heads: dict[str, NpyHeader] = {}
        for key, info in members.items():
            with zf.open(info) as member:
                head = npy_header(member, f"{path}: field '{key}'")
            _check_header(path, known[key], head, bounds)
            if head.offset + head.nbytes != info.file_size:
                raise UserError(
                    f"{path}: field '{key}': its header implies {head.offset + head.nbytes:,} "
                    f"bytes but the archive records {info.file_size:,} (a corrupted or forged file)"
                )
            heads[key] = head
        for key, info in members.items():
            head, arr = heads[key], None
            if info.compress_type == zipfile.ZIP_STORED and head.nbytes > 0:
                # local file header: 30 bytes, then the name and the extra field
                f.seek(info.header_offset)
                local = f.read(30)
                start = (
                    info.header_offset
                    + 30
                    + int.from_bytes(local[26:28], "little")
                    + int.from_bytes(local[28:30], "little")
                )
                order = "F" if head.fortran else "C"
                arr = np.memmap(
                    path,
                    dtype=head.dtype,
                    mode="r",
                    offset=start + head.offset,
                    shape=head.shape,
                    order=order,
                )
            if arr is None:
                with zf.open(info) as member:
                    arr = np.lib.format.read_array(member, allow_pickle=False)
            out[key] = arr
    return out


def read_predictions(
    path: str | os.PathLike, data_dir: str | os.PathLike | None = None
) -> Predictions:
    """Open a predictions file and check its fields: names, kinds, ranks, matching row counts.

    With `data_dir`, no member may be larger than that dataset's test split implies
    (dataset_bounds); without, the general limits apply (trm.limits). Either way every check
    is made on the members' headers, before their data is read."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"predictions file not found: {path}")
    bounds = dataset_bounds(data_dir) if data_dir is not None else ANY_DATASET
    try:
        data = _npz_arrays(path, bounds)
    except UserError:
        raise
    except Exception as e:  # zip / header errors from a corrupt or foreign file
        raise UserError(f"{path}: not a readable .npz file ({e})") from e
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise UserError(f"{path}: missing field(s) {missing} (has {sorted(data)})")
    n = len(data["puzzle_identifiers"])
    for spec in FIELDS:
        if spec.name in data and len(data[spec.name]) != n:
            raise UserError(
                f"{path}: field '{spec.name}' has {len(data[spec.name])} rows, "
                f"puzzle_identifiers has {n}"
            )
    if data["inputs"].shape != data["preds"].shape:
        raise UserError(
            f"{path}: inputs {data['inputs'].shape} and preds {data['preds'].shape} differ in shape"
        )
    steps = {data[k].shape[1] for k in STEP_FIELDS if k in data}
    if steps and (len(steps) > 1 or not all(k in data for k in STEP_FIELDS)):
        raise UserError(
            f"{path}: per-step fields {list(STEP_FIELDS)} must all be present with one step count"
        )
    optional_names = [f.name for f in FIELDS if not f.required and f.name in data]
    return Predictions(
        path=path,
        **{k: data[k] for k in REQUIRED},
        optional={k: data[k] for k in optional_names},
    )


def check_matches_dataset(
    pred: Predictions, data_dir: str | os.PathLike, allow_prefix: bool = False
) -> None:
    """The rows must be the test split's examples in dataset order (a prefix with allow_prefix,
    for `--max-examples` runs): same puzzle_identifiers and inputs, row by row."""
    from trm.data.format import load_split

    path = pred.path
    data = load_split(data_dir, "test")
    n_data = int(data["inputs"].shape[0])
    n = len(pred)
    if n != n_data and not (allow_prefix and n < n_data):
        raise UserError(
            f"{path}: {n} rows but the test split of {data_dir} has {n_data} examples "
            "(predictions from another dataset build, or a --max-examples run?)"
        )
    if pred.preds.shape[1] != data["inputs"].shape[1]:
        raise UserError(
            f"{path}: preds shape {pred.preds.shape} does not match seq_len "
            f"{data['inputs'].shape[1]} of {data_dir}"
        )
    # The dataset stores one identifier per puzzle; predictions hold one per example row.
    expected = {
        "puzzle_identifiers": np.repeat(
            np.asarray(data["puzzle_identifiers"]), np.diff(np.asarray(data["puzzle_indices"]))
        ),
        "inputs": data["inputs"],
    }
    for name in ("puzzle_identifiers", "inputs"):
        got = np.asarray(getattr(pred, name))
        want = np.asarray(expected[name][:n])
        mismatch = np.flatnonzero((want != got).reshape(n, -1).any(axis=1))
        if mismatch.size:
            raise UserError(
                f"{path}: field {name} differs from {data_dir}/test at {mismatch.size} row(s), "
                f"first row {int(mismatch[0])}: predictions from another dataset build?"
            )


def dataset_row_identifiers(data_dir: str | os.PathLike, split: str = "test") -> np.ndarray:
    """Puzzle identifier of every example row of a split."""
    from trm.data.format import load_split

    arrays = load_split(data_dir, split)
    idx = np.asarray(arrays["puzzle_indices"])
    return np.repeat(np.asarray(arrays["puzzle_identifiers"]), np.diff(idx))


def check_covers_dataset(
    got: np.ndarray,
    expected_ids: np.ndarray,
    pred_path: str | os.PathLike,
    data_dir: str | os.PathLike,
) -> None:
    """Predictions must hold one row per test example of the dataset (in any order).

    `got` are the predictions' puzzle identifiers without padding (blank) rows.
    """
    if len(got) != len(expected_ids):
        raise UserError(
            f"{pred_path}: {len(got)} prediction rows, but dataset {data_dir} has {len(expected_ids)} "
            "test examples (predictions must hold one row per test example)"
        )
    a, b = np.sort(got), np.sort(expected_ids)
    if not np.array_equal(a, b):
        unknown = np.setdiff1d(a, b)
        what = (
            f"identifier(s) {unknown[:5].tolist()} are not puzzles of its test split"
            if unknown.size
            else "the number of rows per identifier differs"
        )
        raise UserError(f"{pred_path}: puzzle_identifiers do not match dataset {data_dir}: {what}")


def check_prediction_values(pred: Predictions, vocab_size: int, chunk: int = 65536) -> None:
    """Values a model can produce: finite q_halt_logits and preds inside the dataset's
    vocabulary (0..vocab_size-1). Anything else is a corrupted or foreign file, named here rather
    than scored silently."""
    q = np.asarray(pred.q_halt_logits)
    bad_q = np.flatnonzero(~np.isfinite(q))
    if bad_q.size:
        r = int(bad_q[0])
        raise UserError(
            f"{pred.path}: field q_halt_logits is not finite ({q[r]}) at {bad_q.size} row(s), "
            f"first row {r}"
        )
    n = len(pred)
    for s in range(0, n, chunk):  # chunked: preds may be a memory-mapped [N, 900] array
        block = np.asarray(pred.preds[s : s + chunk])
        bad = np.flatnonzero(((block < 0) | (block >= vocab_size)).any(axis=1))
        if bad.size:
            r = s + int(bad[0])
            row = np.asarray(pred.preds[r])
            value = int(row[(row < 0) | (row >= vocab_size)][0])
            raise UserError(
                f"{pred.path}: field preds holds token {value} outside the vocabulary "
                f"0..{vocab_size - 1}, first row {r}"
            )


def load_predictions(
    path: str | os.PathLike, data_dir: str | os.PathLike, allow_prefix: bool = False
) -> Predictions:
    """`read_predictions` followed by `check_matches_dataset`."""
    pred = read_predictions(path, data_dir)
    check_matches_dataset(pred, data_dir, allow_prefix=allow_prefix)
    return pred
