"""Everything the report reads, read through the keys its writers declare (trm.eval.schema, and
trm.bench.schema; comparisons: trm.report.comparisons). A declared key that is missing is an
error naming the file and the key: the report never guesses another layout and computes no
statistics of its own.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.bench import schema as B
from trm.errors import UserError
from trm.eval import schema as S
from trm.kinds import PuzzleKind
from trm.kinds import kind as puzzle_kind
from trm.utils import read_json

# ---- bench.json: the keys trm.bench.schema declares (its writer builds the file from them). ----
BENCH_DEVICE = B.DEVICE  # {type, name, threads, ...}
BENCH_DEVICE_TYPE = B.Device.TYPE  # "cuda" or "cpu"
BENCH_DEVICE_NAME = B.Device.NAME
BENCH_DEVICE_THREADS = B.Device.THREADS
BENCH_RESULTS = B.RESULTS  # one entry per (mode, dtype, compile, batch size)
BENCH_MODE = B.Result.MODE
BENCH_MODE_INFERENCE = B.MODE_INFERENCE
BENCH_BATCH_SIZE = B.Result.BATCH_SIZE
BENCH_DTYPE = B.Result.DTYPE
BENCH_COMPILE = B.Result.COMPILE
BENCH_ERROR = B.Result.ERROR  # instead of the timing fields, e.g. out of memory
BENCH_LATENCY_BATCH_S = B.Result.LATENCY_BATCH_S  # {median, p90, ...} seconds per batch
BENCH_MEDIAN = B.Latency.MEDIAN
BENCH_THROUGHPUT = B.Result.THROUGHPUT_EXAMPLES_PER_S
BENCH_MEMORY = B.Result.MEMORY
BENCH_MEMORY_PEAK_BYTES = B.PEAK_MEMORY_KEY
# ---------------------------------------------------------------------------------------------


class ReportInputError(UserError):
    """A file the report reads lacks a key (or column) its writer declares."""


@dataclass
class ExperimentInputs:
    """The files behind one experiment's section (paths relative to the workflow folder)."""

    name: str
    settings: dict[str, Any]
    data_dir: str
    metrics: dict[str, str] = field(default_factory=dict)  # mode -> metrics.json
    per_example: dict[str, str] = field(default_factory=dict)  # mode -> per_example.jsonl/.csv
    train_dir: str | None = None
    sweep_csv: str | None = None
    bench_json: str | None = None
    # paper vs single mode (ARC): `trm compare runs --run paper=.. single=.. --base single`
    comparisons: str | None = None
    # issue 11 analyses: analysis_trajectory (trajectory.csv), analysis_ids_<mode> and
    # analysis_adapt_<mode> (comparisons files), analysis_ensemble (folder of `trm analyse
    # ensemble`); see trm.report.analyses; analysis_checkpoints (folder of `trm analyse
    # checkpoints`): trm.report.checkpoints
    analyses: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> PuzzleKind:
        """The experiment's puzzle kind (settings.kind, a key of trm.kinds.KINDS)."""
        if "kind" not in self.settings:
            raise ReportInputError(f"experiment {self.name}: settings lack 'kind'")
        return puzzle_kind(self.settings["kind"])

    def paths(self) -> list[str]:
        """Every file or folder this section reads (inputs of `trm report`)."""
        single = [self.data_dir, self.train_dir, self.sweep_csv, self.bench_json, self.comparisons]
        return [
            p
            for p in (*single, *self.metrics.values(), *self.per_example.values())
            if p is not None
        ] + list(self.analyses.values())


def require(data: Mapping[str, Any], key: str, path: str | os.PathLike, writer: str) -> Any:
    """data[key], or an error naming the file, the key and the command that writes it."""
    if key not in data:
        raise ReportInputError(f"{path}: missing key '{key}' (written by {writer})")
    return data[key]


def must_exist(path: str | os.PathLike, writer: str) -> Path:
    """The path, or an error naming it and the command that writes it."""
    if not Path(path).exists():
        raise ReportInputError(f"{path}: not found (written by {writer})")
    return Path(path)


def read_declared_csv(
    path: str | os.PathLike,
    columns: Sequence[str],
    writer: str,
    types: Mapping[str, Callable[[str], Any]],
) -> list[dict[str, Any]]:
    """The rows of a CSV a `trm` command writes: every declared column present, each value
    converted by `types` (other columns kept as text), at least one row; otherwise one line
    naming the file (and line) and the command that writes it."""
    path = must_exist(path, writer)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(columns) - set(reader.fieldnames or [])
        if missing:
            raise ReportInputError(f"{path}: missing column(s) {sorted(missing)} ({writer})")
        rows = []
        for i, r in enumerate(reader):
            try:
                rows.append({c: types[c](r[c]) if c in types else r[c] for c in columns})
            except (TypeError, ValueError) as e:
                raise ReportInputError(f"{path}: line {i + 2}: {e} ({writer})") from e
    if not rows:
        raise ReportInputError(f"{path}: no rows ({writer})")
    return rows


def _read_object(path: str | os.PathLike, what: str) -> dict[str, Any]:
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object ({what})")
    return data


def per_example_file(metrics_path: str | os.PathLike, kind: str) -> str:
    """The scorer's per-example file beside metrics.json: JSON lines (ARC) or CSV."""
    name = "per_example.jsonl" if puzzle_kind(kind).voted else "per_example.csv"
    return str(Path(metrics_path).parent / name)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    rows = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}: line {i}: malformed JSON ({e.msg})") from e
    return rows


# ---- scores ---------------------------------------------------------------------------------


@dataclass
class Estimate:
    """A value with its 95 % interval, as the scorer wrote them (and the interval's method, a
    key of trm.eval.schema.CI_METHODS, where the file states it)."""

    value: float
    ci_low: float
    ci_high: float
    method: str | None = None


def headline_keys(kind: PuzzleKind) -> tuple[str, ...]:
    """The metrics the summary table shows: pass@1 and pass@2 for ARC, exact accuracy else."""
    return S.ARC_HEADLINE if kind.voted else (kind.headline,)


def _estimate(
    data: Mapping[str, Any],
    key: str,
    path: str | os.PathLike,
    writer: str,
    with_method: bool = False,
) -> Estimate:
    lo_key, hi_key = S.ci_keys(key)
    method = None
    if with_method:
        method = str(require(data, S.ci_method_key(key), path, writer))
        if method not in S.CI_METHODS:
            raise ReportInputError(
                f"{path}: '{S.ci_method_key(key)}' is {method!r}, not one of {sorted(S.CI_METHODS)}"
            )
    return Estimate(
        value=float(require(data, key, path, writer)),
        ci_low=float(require(data, lo_key, path, writer)),
        ci_high=float(require(data, hi_key, path, writer)),
        method=method,
    )


def count_keys(kind: PuzzleKind) -> dict[str, str]:
    """The counts behind an accuracy: {declared key: unit shown} (tasks and test inputs for ARC)."""
    if kind.voted:
        return {S.ARC_N_TASKS: "tasks", S.ARC_N_TEST_INPUTS: "test inputs"}
    return {S.GRID_N_EXAMPLES: "test puzzles"}


@dataclass
class Headline:
    """The headline accuracies of one metrics.json and the counts they are over."""

    estimates: dict[str, Estimate]
    counts: dict[str, int]  # unit ("tasks", "test inputs", "test puzzles") -> n


def read_headline(path: str | os.PathLike, kind: PuzzleKind) -> Headline:
    """The headline metrics of one scores/<mode>/metrics.json, with intervals, method and n."""
    data = _read_object(must_exist(path, "trm score"), "metrics")
    writer = f"trm score {kind.name}"
    return Headline(
        estimates={
            key: _estimate(data, key, path, writer, with_method=True) for key in headline_keys(kind)
        },
        counts={
            unit: int(require(data, key, path, writer)) for key, unit in count_keys(kind).items()
        },
    )


def per_input_file(metrics_path: str | os.PathLike) -> str:
    """`trm score arc`'s per-input table beside metrics.json."""
    return str(Path(metrics_path).parent / "per_input.csv")


# The per_input.csv columns the votes figure shows, each under its true name.
VOTE_COLUMNS: dict[str, str] = {
    S.PER_INPUT_N_VOTES: "views pooled per test input",
    S.PER_INPUT_TOP_VOTES: "votes for the chosen answer (agreement)",
}


def read_votes(path: str | os.PathLike) -> dict[str, list[int]]:
    """Per test input (ARC per_input.csv): views pooled (n_votes) and the votes the chosen
    answer received (top_votes)."""
    with open(must_exist(path, "trm score arc"), newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        rows = list(reader)
    for col in VOTE_COLUMNS:
        if col not in cols:
            raise ReportInputError(f"{path}: missing column '{col}' (written by trm score arc)")
    try:
        return {col: [int(r[col]) for r in rows] for col in VOTE_COLUMNS}
    except (TypeError, ValueError) as e:
        raise ReportInputError(f"{path}: a vote count is not an integer ({e})") from e


TRAIN_CONFIG = "config.yaml"  # the resolved config `trm train` saves in its run folder


def read_train_config(train_dir: str | os.PathLike | None) -> dict[str, Any] | None:
    """The training config as run (model and train sections), or None without a train folder."""
    if not train_dir:
        return None
    import yaml

    path = must_exist(Path(train_dir) / TRAIN_CONFIG, "trm train")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a mapping (written by trm train)")
    for key in ("model", "train"):
        require(data, key, path, "trm train")
    return data


# ---- acc_vs_aug.csv -----------------------------------------------------------------------


def read_sweep(path: str | os.PathLike) -> list[dict[str, Any]]:
    """One curve per K in SWEEP_KS: x = level, y = pass@K with its 95 % band (and its method),
    the mean views pooled per test input and the test inputs scored, per level."""
    with open(must_exist(path, "trm sweep"), newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        rows = list(reader)
    needed = [S.SWEEP_LEVEL, S.SWEEP_MEAN_VOTES, S.SWEEP_N_TEST_INPUTS]
    for k in S.SWEEP_KS:
        needed += [S.sweep_pass(k), *S.ci_keys(S.sweep_pass(k)), S.ci_method_key(S.sweep_pass(k))]
    for col in needed:
        if col not in cols:
            raise ReportInputError(f"{path}: missing column '{col}' (written by trm sweep)")
    rows.sort(key=lambda r: float(r[S.SWEEP_LEVEL]))
    curves = []
    for k in S.SWEEP_KS:
        y = S.sweep_pass(k)
        lo, hi = S.ci_keys(y)
        curves.append(
            {
                "label": y,
                "x": [float(r[S.SWEEP_LEVEL]) for r in rows],
                "y": [float(r[y]) for r in rows],
                "lo": [float(r[lo]) for r in rows],
                "hi": [float(r[hi]) for r in rows],
                "methods": sorted({r[S.ci_method_key(y)] for r in rows}),
                "method": [r[S.ci_method_key(y)] for r in rows],
                "views": [float(r[S.SWEEP_MEAN_VOTES]) for r in rows],
                "n": [int(r[S.SWEEP_N_TEST_INPUTS]) for r in rows],
            }
        )
    return curves


# ---- bench.json ---------------------------------------------------------------------------


def read_bench(path: str | os.PathLike) -> tuple[list[dict[str, Any]], str]:
    """Inference rows of bench.json in the report's units (ms, examples/s, MiB), and the device."""
    data = _read_object(must_exist(path, "trm bench"), "benchmark result")
    writer = "trm bench"
    device = require(data, BENCH_DEVICE, path, writer)
    kind = require(device, BENCH_DEVICE_TYPE, f"{path}: {BENCH_DEVICE}", writer)
    name = require(device, BENCH_DEVICE_NAME, f"{path}: {BENCH_DEVICE}", writer)
    threads = device.get(BENCH_DEVICE_THREADS) if kind == "cpu" else None
    extra = f", {threads} threads" if threads else ""
    # what ran where, in words: "the CPU (AMD EPYC, 2 threads)", "the GPU NVIDIA H100 80GB HBM3"
    if kind == "cpu":
        device_text = f"the CPU ({name}{extra})" if name else "the CPU"
    elif kind == "cuda":
        device_text = f"the GPU {name}" if name else "a GPU"
    else:
        device_text = f"{kind} ({name})" if name else str(kind)
    mem_key = BENCH_MEMORY_PEAK_BYTES.get(kind)
    out = []
    for i, r in enumerate(require(data, BENCH_RESULTS, path, writer)):
        where = f"{path}: {BENCH_RESULTS}[{i}]"
        if require(r, BENCH_MODE, where, writer) != BENCH_MODE_INFERENCE:
            continue
        row: dict[str, Any] = {
            "batch_size": require(r, BENCH_BATCH_SIZE, where, writer),
            "dtype": str(require(r, BENCH_DTYPE, where, writer))
            + (" compiled" if r.get(BENCH_COMPILE) else ""),
            "latency_ms": None,
            "throughput": None,
            "peak_mem_mb": None,
        }
        if BENCH_ERROR not in r:  # a setting that failed (out of memory) has no timings
            latency = require(r, BENCH_LATENCY_BATCH_S, where, writer)
            row["latency_ms"] = 1000 * float(require(latency, BENCH_MEDIAN, where, writer))
            row["throughput"] = float(require(r, BENCH_THROUGHPUT, where, writer))
            memory = require(r, BENCH_MEMORY, where, writer)
            if mem_key is not None:
                row["peak_mem_mb"] = require(memory, mem_key, where, writer) / 2**20
        out.append(row)
    return out, device_text
