"""Bounds on the sizes and step counts that files give: one declaration per file format.

A value read from a file decides an allocation (a table of `num_puzzle_identifiers` rows, a
carry of `seq_len + puzzle_emb_len` positions) or a run time (`halt_max_steps` ACT steps), so
it is checked here BEFORE anything is allocated, with one line naming the file, the field and
the limit. The formats:

- the model settings (`ModelShape`): all_config.yaml's `arch:` section beside a checkpoint,
  `--arch-override`, a preset, and every model config just before the model is built;
- dataset.json (`DatasetShape`) and the headers of a dataset's .npy arrays (`npy_header`);
- predictions .npz members (`npy_header` on each member, before it is decompressed; bounded
  by what the dataset implies, trm.eval.predictions);
- the LLM baseline's JSON and JSON-lines files (`LLM_*`, trm.llm.records).

The limits are generous for the paper's real runs (ARC-AGI-1/2 at 1000 augmentations and the
prepare commands' own maximum of 10,000, Sudoku-Extreme at 1000 augmentations, Maze-Hard 30x30,
the published TRM and HRM checkpoints) and far below what a crafted file would ask for. The
numbers are checked with the settings validators (trm.settings: `size`, `count`, ...), so a
file's value and a command-line value of the same kind read the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from trm.errors import InputError
from trm.settings import (
    PROBABILITY,
    Range,
    check_number,
    check_values,
    count,
    non_negative,
    positive,
    setting,
    size,
    specs,
)

# ---- sizes (each with the paper's value it leaves room for) ---------------------------------------
MAX_SEQ_LEN = 16_384  # tokens per example: ARC and Maze-Hard 900 (30x30), Sudoku 81
MAX_VOCAB = 65_536  # tokens: ARC 12, Sudoku 11, Maze 6
# puzzle-embedding rows: ARC-AGI-1 at 1000 augmentations ~876k, ARC-AGI-2 ~1.3M; `trm prepare
# arc --num-aug 10000` (its maximum) on ARC-AGI-2's 1,280 tasks 12.8M
MAX_PUZZLE_IDENTIFIERS = 1 << 24
MAX_PUZZLES = (
    100_000_000  # puzzles (and groups) of one split: ARC-AGI at 10,000 augmentations 12.8M
)
MAX_EXAMPLES = 1_000_000_000  # example rows of one split: ARC-AGI-1 at 1000 augmentations ~3.5M
# entries of the puzzle-embedding table (rows x puzzle_emb_ndim): MAX_PUZZLE_IDENTIFIERS rows of
# the paper's 512 (32 GiB as float32); the paper's ARC-AGI-2 table ~0.7G
MAX_PUZZLE_TABLE = MAX_PUZZLE_IDENTIFIERS * 512
MAX_HIDDEN = 8_192  # hidden_size and puzzle_emb_ndim: the paper 512
MAX_HEADS = 1_024  # the paper 8
MAX_EXPANSION = 64.0  # MLP width / hidden_size: the paper 4
MAX_CYCLES = 256  # H_cycles, L_cycles: the paper 3 and 4..6
MAX_LAYERS = 256  # H_layers, L_layers: the paper 2 (HRM 4, the transformer baseline 8)
MAX_PUZZLE_EMB_LEN = 1_024  # positions of the puzzle embedding: the paper 16
MAX_ACT_STEPS = 4_096  # halt_max_steps a file may set: the paper 16 (a run time, not memory)
MAX_MODEL_BATCH = 1 << 20  # the model config's batch_size (the commands pass their own)
# Per-step fields of a predictions file: `trm predict --halt-max-steps` (a user's explicit
# test-time depth) goes up to this many steps, so a trajectory may hold as many columns.
MAX_TRAJECTORY_STEPS = 1 << 16
# Rows a predictions file may hold beyond the dataset's test examples: the reference's
# evaluation pads its last batch with blank rows (scoring drops them).
MAX_PADDING_ROWS = 1 << 16
# The LLM baseline: records of one split (ARC-AGI-1 evaluation at 10,000 test views: ~4.2M),
# one JSON line (a 30x30 answer grid and the generated text: a few KB) and a JSON file
# (test_tasks.json of ARC-AGI-1 evaluation: ~4 MB; manifest.json, run summaries: KB).
LLM_MAX_RECORDS = 1 << 24
LLM_MAX_LINE_BYTES = 1 << 20
LLM_MAX_JSON_BYTES = 256 << 20
LLM_MAX_GRID = 30  # ARC grids are at most 30x30

TOKEN_ID = Range("token id", -(2**31), 2**31 - 1)


# ---- the model settings a file can carry ----------------------------------------------------------


@dataclass(kw_only=True)
class ModelShape:
    """The reference model config keys that decide allocations and run time, with their bounds
    (trm.model.TRMConfig holds the defaults; absent keys are not checked here)."""

    seq_len: int | None = setting(None, check=size(1, MAX_SEQ_LEN), help="tokens per example")
    vocab_size: int | None = setting(None, check=size(1, MAX_VOCAB), help="tokens")
    num_puzzle_identifiers: int | None = setting(
        None, check=size(1, MAX_PUZZLE_IDENTIFIERS), help="puzzle-embedding rows"
    )
    batch_size: int | None = setting(None, check=size(1, MAX_MODEL_BATCH), help="examples")
    hidden_size: int | None = setting(None, check=size(1, MAX_HIDDEN), help="hidden size")
    num_heads: int | None = setting(None, check=size(1, MAX_HEADS), help="attention heads")
    expansion: float | None = setting(None, check=positive(MAX_EXPANSION), help="MLP width")
    puzzle_emb_ndim: int | None = setting(
        None, check=count(0, MAX_HIDDEN), help="puzzle-embedding width"
    )
    puzzle_emb_len: int | None = setting(
        None, check=count(0, MAX_PUZZLE_EMB_LEN), help="puzzle-embedding positions"
    )
    H_cycles: int | None = setting(None, check=count(1, MAX_CYCLES), help="H cycles")
    L_cycles: int | None = setting(None, check=count(1, MAX_CYCLES), help="L cycles")
    H_layers: int | None = setting(None, check=count(0, MAX_LAYERS), help="H layers")
    L_layers: int | None = setting(None, check=count(0, MAX_LAYERS), help="L layers")
    halt_max_steps: int | None = setting(None, check=count(1, MAX_ACT_STEPS), help="ACT steps")
    halt_exploration_prob: float | None = setting(None, check=PROBABILITY, help="exploration")
    rms_norm_eps: float | None = setting(None, check=positive(1.0), help="RMSNorm epsilon")
    rope_theta: float | None = setting(None, check=positive(), help="RoPE base")
    mlp_t: bool | None = setting(None, help="MLP over the sequence")
    no_ACT_continue: bool | None = setting(None, help="no q_continue target")
    act_enabled: bool | None = setting(None, help="adaptive halting in training")
    act_inference: bool | None = setting(None, help="adaptive halting in evaluation")


@dataclass(kw_only=True)
class DatasetShape:
    """dataset.json's fields (the reference's PuzzleDatasetMetadata) with their bounds."""

    pad_id: int | None = setting(None, check=count(0, MAX_VOCAB), help="pad token")
    ignore_label_id: int | None = setting(None, check=TOKEN_ID, help="label the loss skips")
    blank_identifier_id: int | None = setting(
        None, check=count(0, MAX_PUZZLE_IDENTIFIERS), help="identifier of padding rows"
    )
    vocab_size: int | None = setting(None, check=size(1, MAX_VOCAB), help="tokens")
    seq_len: int | None = setting(None, check=size(1, MAX_SEQ_LEN), help="tokens per example")
    num_puzzle_identifiers: int | None = setting(
        None, check=size(1, MAX_PUZZLE_IDENTIFIERS), help="puzzle identifiers"
    )
    total_groups: int | None = setting(None, check=count(0, MAX_PUZZLES), help="groups")
    mean_puzzle_examples: float | None = setting(
        None, check=non_negative(MAX_EXAMPLES), help="examples per puzzle"
    )
    total_puzzles: int | None = setting(None, check=count(0, MAX_PUZZLES), help="puzzles")
    sets: list[str] | None = setting(None, help="set names")


def numbers_from_text(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the text of a number turned into the number for `cls`'s numeric keys.

    YAML 1.1 (PyYAML) reads `1e-5` or `1e8` as a string; the reference's code turns such a
    string into the number, so it is one here too, before the bounds see it."""
    out = dict(values)
    for spec in specs(cls):
        value = out.get(spec.name)
        if spec.base in (int, float) and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                continue  # left for the type check to name
            out[spec.name] = int(number) if spec.base is int and number.is_integer() else number
    return out


def check_model_settings(values: dict[str, Any], where: str, sep: str = ".") -> dict[str, Any]:
    """`values` (model config keys) with numbers read from text, checked against ModelShape
    (every number not in it must still be finite): one line
    `<where><sep><key>: <value> is not a valid <kind> (<limit>)` otherwise."""
    values = numbers_from_text(ModelShape, values)
    values.update(check_values(ModelShape, values, where, sep))
    for key, value in values.items():
        if key not in MODEL_BOUNDS and isinstance(value, float):
            check_number(f"{where}{sep}{key}", value)
    rows, width = values.get("num_puzzle_identifiers"), values.get("puzzle_emb_ndim")
    if rows is not None and width is not None and rows * width > MAX_PUZZLE_TABLE:
        raise InputError(
            f"{where}{sep}num_puzzle_identifiers x puzzle_emb_ndim: {rows:,} x {width:,} "
            f"puzzle-embedding entries exceeds the limit of {MAX_PUZZLE_TABLE:,}"
        )
    return values


# The bounds of the numeric model settings, by key (the same Range objects ModelShape declares):
# what `trm train` checks in its Hydra model group and the workflow's schema states.
MODEL_BOUNDS: dict[str, Range] = {s.name: s.check for s in specs(ModelShape) if s.check is not None}


def check_dataset_fields(values: dict[str, Any], where: str) -> dict[str, Any]:
    """dataset.json's fields checked against DatasetShape (types and bounds), naming the file;
    returns them as their declared types."""
    return {**values, **check_values(DatasetShape, values, where, sep=" ")}


# ---- .npy headers (a dataset's arrays, a predictions file's members) -----------------------------


@dataclass(frozen=True)
class NpyHeader:
    """What an .npy header says: shape, dtype, order, and where and how long its data is."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # bytes from the start of the .npy to its data
    nbytes: int  # bytes of data the header implies


def npy_header(f: IO[bytes], where: str) -> NpyHeader:
    """Read an .npy header from `f` (positioned at its start) without reading any data.

    Refuses a dtype holding Python objects (reading one would unpickle) and a malformed or
    unsupported header, naming `where`."""
    start = f.tell()
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{where}: not a readable .npy array ({first})") from e
    if dtype.hasobject:
        raise InputError(
            f"{where}: dtype {dtype} holds Python objects; refused (reading it would run "
            "pickle): arrays of numbers only"
        )
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    return NpyHeader(tuple(int(n) for n in shape), dtype, bool(fortran), f.tell() - start, nbytes)


def npy_file_header(path: str | os.PathLike) -> NpyHeader:
    """The header of an .npy file, checked against the file's length (a header that promises
    more data than the file holds is refused before anything maps or reads it)."""
    with open(path, "rb") as f:
        head = npy_header(f, str(path))
    length = os.path.getsize(path)
    if head.offset + head.nbytes > length:
        raise InputError(
            f"{path}: header says shape {head.shape} of {head.dtype} ({head.nbytes:,} bytes) but "
            f"the file holds {max(length - head.offset, 0):,} bytes of data (truncated or forged)"
        )
    return head


def check_rows(what: str, rows: int, limit: int, why: str) -> None:
    """One line naming `what` (file and field) when `rows` exceeds `limit`."""
    if rows > limit:
        raise InputError(f"{what}: {rows:,} rows exceeds the limit of {limit:,} ({why})")
