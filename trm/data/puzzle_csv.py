"""Shared plumbing of the Sudoku and Maze builders.

Both reference datasets ship as `train.csv` / `test.csv` with the columns `source,q,a,rating`
(one puzzle per row: question string, answer string). This module reads and writes those
files with errors that name the file, line and field, resolves `--source` specs
(`hf:org/name[@revision]`, `csv:DIR`, `generate`), downloads from the Hugging Face Hub with a
deadline, and writes the reference on-disk layout where every puzzle has exactly one example.
"""

from __future__ import annotations

import csv
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trm.caller import how_to_set
from trm.data.format import DatasetMetadata, array_path, write_metadata
from trm.errors import InputError, InputNotFoundError
from trm.utils import atomic_file, write_json

CSV_HEADER: tuple[str, ...] = ("source", "q", "a", "rating")
SPLITS: tuple[str, ...] = ("train", "test")
DEFAULT_HF_TIMEOUT_S = 1800.0

# RNG stream ids: each random decision gets its own stream derived from (--seed, stream id),
# so e.g. changing --num-aug never changes which puzzles --subsample keeps.
STREAM_GENERATE = 1
STREAM_SUBSAMPLE = 2
STREAM_AUGMENT = 3
STREAM_TEST_SUBSAMPLE = 4


Record = tuple[str, str, str, int]  # one CSV row: source, question, answer, rating


class PuzzleCsvError(InputError):
    """A malformed puzzle CSV row; the message names the file, line, puzzle source and field."""


class DatasetSourceError(InputNotFoundError):
    """The requested source cannot be read (offline without cache, missing repo or file)."""


def rng_for(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(stream)])


@dataclass
class PuzzleRows:
    """The rows of one puzzle CSV, column by column; `lines` are 1-based line numbers."""

    path: Path
    sources: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    ratings: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.questions)

    def where(self, i: int, column: str) -> str:
        """Location prefix for an error about row `i`, field `column`."""
        return f"{self.path} line {self.lines[i]} (puzzle source {self.sources[i]!r}), field {column!r}"


def read_puzzle_csv(path: str | os.PathLike, progress: bool = False) -> PuzzleRows:
    """Read a `source,q,a,rating` CSV. The header line is skipped (as the reference does) but
    must have 4 columns; every data row must have exactly 4 fields."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"puzzle CSV not found: {path}")
    try:
        return _read_rows(path, progress)
    except UnicodeDecodeError as e:
        raise PuzzleCsvError(
            f"{path}: not a UTF-8 text CSV ({e.reason} at byte {e.start}); expected "
            f"{','.join(CSV_HEADER)} rows"
        ) from e
    except csv.Error as e:
        raise PuzzleCsvError(f"{path}: malformed CSV ({e})") from e


def _read_rows(path: Path, progress: bool) -> PuzzleRows:
    rows = PuzzleRows(path=path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise PuzzleCsvError(f"{path}: empty file (expected a header {','.join(CSV_HEADER)})")
        if len(header) != 4:
            raise PuzzleCsvError(
                f"{path} line 1: header has {len(header)} columns {header!r}, "
                f"expected 4 ({','.join(CSV_HEADER)})"
            )
        it = reader
        if progress:
            from trm.progress import progress as progress_bar

            it = progress_bar(reader, desc=f"read {path.name}", unit=" rows", mininterval=1.0)
        for record in it:
            if not record:
                continue  # blank line
            if len(record) != 4:
                raise PuzzleCsvError(
                    f"{path} line {reader.line_num}: {len(record)} fields, expected 4 "
                    f"({','.join(CSV_HEADER)})"
                )
            source, q, a, rating = record
            rows.sources.append(source)
            rows.questions.append(q)
            rows.answers.append(a)
            rows.ratings.append(rating)
            rows.lines.append(reader.line_num)
    return rows


def distinct_records(
    count: int,
    draw: Callable[[int], Record | None],
    *,
    desc: str,
    unit: str,
    progress: bool,
    max_duplicates: int | None = None,
    duplicates_error: str = "",
) -> list[Record]:
    """`count` generated records with distinct questions, in the order drawn.

    `draw(kept)` makes one record (None: rejected; it raises when it must give up); a question
    seen before is skipped, and more than `max_duplicates` of those is `duplicates_error`.
    """
    seen: set[str] = set()
    records: list[Record] = []
    duplicates = 0
    bar = None
    if progress:
        from trm.progress import progress as progress_bar

        bar = progress_bar(total=count, desc=desc, unit=unit, mininterval=1.0)
    try:
        while len(records) < count:
            record = draw(len(records))
            if record is None:
                continue
            if record[1] in seen:
                duplicates += 1
                if max_duplicates is not None and duplicates > max_duplicates:
                    raise InputError(duplicates_error)
                continue
            seen.add(record[1])
            records.append(record)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return records


def write_puzzle_csv(
    path: str | os.PathLike, records: Sequence[tuple[str, str, str, int | str]]
) -> None:
    """Write rows in the reference column layout, atomically."""
    with atomic_file(path, mode="w") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(records)


def check_lengths(rows: PuzzleRows, column: str, values: list[str], expected: int) -> None:
    for i, v in enumerate(values):
        if len(v) != expected:
            what = "is empty (missing)" if not v else f"has length {len(v)}"
            raise PuzzleCsvError(f"{rows.where(i, column)} {what}, expected {expected} characters")


def strings_to_bytes(values: list[str], length: int) -> np.ndarray:
    """[N, length] uint8 array of the (ASCII) characters; lengths must be checked first."""
    if not values:
        return np.zeros((0, length), dtype=np.uint8)
    joined = "".join(values).encode("latin-1", errors="replace")
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(values), length).copy()


def first_bad(mask: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first True in a [N, L] mask, or None."""
    hits = np.argwhere(mask)
    return (int(hits[0, 0]), int(hits[0, 1])) if len(hits) else None


def parse_ratings(rows: PuzzleRows) -> np.ndarray:
    """The rating column as int64, with an error naming the first row that is not an integer."""
    out = np.empty(len(rows), dtype=np.int64)
    for i, r in enumerate(rows.ratings):
        try:
            out[i] = int(r)
        except ValueError:
            raise PuzzleCsvError(f"{rows.where(i, 'rating')}: {r!r} is not an integer") from None
    return out


# ---------------------------------------------------------------------------------------------
# sources


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "hf", "csv" or "generate"
    location: str = ""  # repo id or folder
    revision: str | None = None


def parse_source(spec: str) -> SourceSpec:
    """`hf:org/name[@revision]`, `csv:DIR` (holding train.csv and test.csv) or `generate`."""
    if spec == "generate":
        return SourceSpec("generate")
    kind, sep, rest = spec.partition(":")
    if not sep or not rest or kind not in ("hf", "csv"):
        raise InputError(
            f"--source {spec!r}: expected hf:ORG/NAME[@REVISION], csv:DIR (with train.csv and "
            "test.csv) or generate"
        )
    if kind == "hf":
        repo, _, revision = rest.partition("@")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise InputError(f"--source {spec!r}: Hugging Face dataset id must look like ORG/NAME")
        return SourceSpec("hf", repo, revision or None)
    return SourceSpec("csv", rest)


def hf_download(
    repo_id: str,
    filename: str,
    revision: str | None = None,
    timeout_s: float = DEFAULT_HF_TIMEOUT_S,
) -> Path:
    """Download (or find in the cache) one file of a Hub dataset repo, giving up after `timeout_s`.

    The Hub client can stall indefinitely on a dead connection, so the call runs in a daemon
    thread that is abandoned at the deadline.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"hf:{repo_id}{'@' + revision if revision else ''} file {filename!r}"
    hint = (  # in the caller's words: the flag, or the workflow's dataset.source (trm.caller)
        f"use {how_to_set('--source', 'generate')} (offline generator) or "
        f"{how_to_set('--source', 'csv:DIR')} (train.csv/test.csv you already have)"
    )
    result: dict[str, object] = {}

    def work() -> None:
        try:
            result["path"] = hf_hub_download(
                repo_id, filename, repo_type="dataset", revision=revision
            )
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e

    worker = threading.Thread(target=work, name=f"hf-download-{filename}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise DatasetSourceError(f"{where}: download did not finish within {timeout_s:g} s; {hint}")
    err = result.get("error")
    if isinstance(err, LocalEntryNotFoundError):
        raise DatasetSourceError(
            f"{where}: not in the local Hugging Face cache and the Hub cannot be reached "
            f"(offline, HF_HUB_OFFLINE=1, or no network): {err}; {hint}"
        ) from err
    if isinstance(err, RepositoryNotFoundError):
        raise DatasetSourceError(f"{where}: no such dataset repository on the Hub; {hint}") from err
    if isinstance(err, RevisionNotFoundError):
        raise DatasetSourceError(f"{where}: no such revision; {hint}") from err
    if isinstance(err, EntryNotFoundError):
        raise DatasetSourceError(f"{where}: the repository has no such file; {hint}") from err
    if isinstance(err, BaseException):
        raise DatasetSourceError(
            f"{where}: download failed ({type(err).__name__}: {err}); {hint}"
        ) from err
    return Path(str(result["path"]))


def hf_commit_of(path: Path) -> str | None:
    """The commit hash in a cache path `.../snapshots/<commit>/<file>`, if it has that shape."""
    parts = path.parts
    if "snapshots" in parts:
        i = len(parts) - 1 - parts[::-1].index("snapshots")
        if i + 1 < len(parts):
            return parts[i + 1]
    return None


def resolve_split_files(
    spec: SourceSpec, timeout_s: float = DEFAULT_HF_TIMEOUT_S
) -> dict[str, tuple[str, Path]]:
    """split -> (label for the manifest, local path) for an `hf:` or `csv:` source."""
    out: dict[str, tuple[str, Path]] = {}
    for split in SPLITS:
        filename = f"{split}.csv"
        if spec.kind == "hf":
            p = hf_download(spec.location, filename, spec.revision, timeout_s)
            commit = hf_commit_of(p) or spec.revision or "unknown"
            out[split] = (f"hf:{spec.location}@{commit}/{filename}", p)
        elif spec.kind == "csv":
            folder = Path(spec.location)
            if not folder.is_dir():
                raise InputNotFoundError(
                    f"--source csv:{spec.location}: not a folder (expected one holding train.csv and test.csv)"
                )
            p = folder / filename
            if not p.is_file():
                raise InputNotFoundError(f"--source csv:{spec.location}: {p} not found")
            out[split] = (f"csv:{p}", p)
        else:
            raise InputError(f"source kind {spec.kind!r} has no files to resolve")
    return out


def load_split_rows(
    spec: SourceSpec,
    work_dir: Path,
    generate: Callable[[int], list[Record]],
    num_train: int | None,
    timeout_s: float = DEFAULT_HF_TIMEOUT_S,
    progress: bool = False,
) -> tuple[dict[str, PuzzleRows], dict[str, Path]]:
    """The train/test CSV rows of a source and the input files to record in the manifest.

    `generate(count)` makes `count` records for `--source generate`: the first `num_train` become
    train, the rest test. They are written to `work_dir/csv/` and read back through the same
    parser as user files, so generated and downloaded data take one path.
    """
    rows: dict[str, PuzzleRows] = {}
    inputs: dict[str, Path] = {}
    if spec.kind == "generate":
        assert num_train is not None, "--source generate needs --num"
        records = generate(num_train)
        for split, recs in (("train", records[:num_train]), ("test", records[num_train:])):
            path = work_dir / "csv" / f"{split}.csv"
            write_puzzle_csv(path, recs)
            rows[split] = read_puzzle_csv(path)
    else:
        for split, (label, path) in resolve_split_files(spec, timeout_s).items():
            inputs[label] = path
            rows[split] = read_puzzle_csv(path, progress=progress)
    return rows, inputs


# ---------------------------------------------------------------------------------------------
# output


def subsample_indices(total: int, size: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """Indices of a random subset like the reference's `np.random.choice(total, size, replace=False)`
    (seeded here); None when no subsampling applies."""
    if size is None or size >= total:
        return None
    return rng.choice(total, size=size, replace=False)


def subsample_split(
    q: np.ndarray,
    a: np.ndarray,
    split: str,
    train_limit: int | None,
    test_limit: int | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random subset of a split's rows (`--subsample` for train, `--test-subsample` for
    test), each split from its own random stream."""
    limit, stream = (
        (train_limit, STREAM_SUBSAMPLE) if split == "train" else (test_limit, STREAM_TEST_SUBSAMPLE)
    )
    idx = subsample_indices(len(q), limit, rng_for(seed, stream))
    return (q, a) if idx is None else (q[idx], a[idx])


def write_single_example_split(
    root: str | os.PathLike,
    split: str,
    inputs: np.ndarray,
    labels: np.ndarray,
    group_size: int,
    vocab_size: int,
    extra_metadata: dict | None = None,
) -> dict[str, int]:
    """Write one split in the reference layout where each example is its own puzzle and each
    original puzzle with its `group_size - 1` augmentations forms a group (rows are ordered
    original, aug 1, aug 2, ... per group). Returns the counts for the manifest."""
    n_examples, seq_len = inputs.shape
    if n_examples % group_size:
        raise AssertionError(f"{n_examples} examples do not split into groups of {group_size}")
    n_groups = n_examples // group_size
    arrays = {
        "inputs": inputs,
        "labels": labels,
        "puzzle_identifiers": np.zeros(n_examples, dtype=np.int32),
        "puzzle_indices": np.arange(n_examples + 1, dtype=np.int32),
        "group_indices": np.arange(0, n_examples + 1, group_size, dtype=np.int32),
    }
    meta = DatasetMetadata(
        pad_id=0,
        ignore_label_id=0,
        blank_identifier_id=0,
        vocab_size=vocab_size,
        seq_len=seq_len,
        num_puzzle_identifiers=1,
        total_groups=n_groups,
        mean_puzzle_examples=1.0,
        # the reference writes the group count here for these datasets
        total_puzzles=n_groups,
        sets=["all"],
    )
    write_metadata(root, split, meta)
    if extra_metadata:
        write_json(
            Path(root) / split / "dataset.json", {**meta.to_json(), **extra_metadata}, indent=None
        )
    for name, arr in arrays.items():
        np.save(array_path(root, split, name), arr)
    return {
        "tasks": n_groups,
        "groups": n_groups,
        "puzzles": n_examples,
        "examples": n_examples,
        "identifiers": 1,
    }


def write_identifiers(root: str | os.PathLike) -> None:
    write_json(Path(root) / "identifiers.json", ["<blank>"], indent=None)
