"""The keys of bench.json: what `trm bench` writes and what readers (the report) may rely on.

The writer (trm.bench.measure) builds the file from these names; readers look values up through
them and call `check_bench` first, so a renamed key fails loudly, naming the file and the key.

Layout (all times in seconds, memory in bytes):

    {DEVICE: {TYPE: "cpu"|"cuda", NAME, TORCH, THREADS, ...},
     SETTINGS: {MODEL_SOURCE, MODEL_CONFIG, PARAMETERS, BATCH_SIZES, DTYPES, ...},
     STARTED_UNIX, SECONDS,
     RESULTS: [{MODE: "inference"|"train_step", BATCH_SIZE, DTYPE, COMPILE,
                (ERROR: "out of memory: ..." | RUNS, WARMUP, LATENCY_BATCH_S: {MEDIAN, P90, ...},
                 LATENCY_EXAMPLE_S: {MEDIAN, P90}, THROUGHPUT_EXAMPLES_PER_S, MEMORY: {...})}]}

MEMORY holds CUDA_MAX_ALLOCATED_BYTES and CUDA_MAX_RESERVED_BYTES on a GPU, CPU_PEAK_RSS_BYTES
and CPU_PEAK_RSS_SCOPE on a CPU; PEAK_MEMORY_KEY names the one to show for each device type.
"""

from __future__ import annotations

import os
from typing import Any

from trm.errors import UserError

# top level
DEVICE = "device"
SETTINGS = "settings"
RESULTS = "results"
STARTED_UNIX = "started_unix"
SECONDS = "seconds"


class Device:
    """Keys of bench.json[DEVICE]: which machine produced the figures (never mix devices)."""

    TYPE = "type"  # "cpu" or "cuda"
    DEVICE = "device"  # the torch device string, e.g. "cuda:0"
    NAME = "name"  # the GPU's name, or the CPU's model name
    TORCH = "torch"
    PYTHON = "python"
    HOST = "host"
    CPU_COUNT = "cpu_count"
    THREADS = "threads"
    CPU_NAME = "cpu_name"
    # CUDA only
    CUDA = "cuda"
    CUDNN = "cudnn"
    GPU_MEMORY_BYTES = "gpu_memory_bytes"
    CAPABILITY = "capability"


class Settings:
    """Keys of bench.json[SETTINGS]: what was measured and how."""

    MODEL_SOURCE = "model_source"
    MODEL_CONFIG = "model_config"
    PARAMETERS = "parameters"
    BATCH_SIZES = "batch_sizes"
    DTYPES = "dtypes"
    COMPILE = "compile"
    TRAIN_STEP = "train_step"
    WARMUP = "warmup"
    REPEATS = "repeats"
    MAX_SECONDS = "max_seconds"
    ACT_STEPS = "act_steps"
    TIMER = "timer"
    THROUGHPUT = "throughput"


class Result:
    """Keys of one entry of bench.json[RESULTS] (one mode x batch size x dtype x compile)."""

    MODE = "mode"
    BATCH_SIZE = "batch_size"
    DTYPE = "dtype"
    COMPILE = "compile"
    ACT_STEPS = "act_steps"  # inference only
    ERROR = "error"  # present instead of the timings when the setting ran out of memory
    RUNS = "runs"
    WARMUP = "warmup"
    LATENCY_BATCH_S = "latency_batch_s"  # Latency keys
    LATENCY_EXAMPLE_S = "latency_example_s"  # Latency.MEDIAN and Latency.P90
    THROUGHPUT_EXAMPLES_PER_S = "throughput_examples_per_s"  # batch size / median batch latency
    MEMORY = "memory"  # Memory keys


class Latency:
    """Keys of a latency summary (seconds)."""

    MEDIAN = "median"
    P90 = "p90"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"


class Memory:
    """Keys of Result.MEMORY (bytes)."""

    CUDA_MAX_ALLOCATED_BYTES = "cuda_max_allocated_bytes"
    CUDA_MAX_RESERVED_BYTES = "cuda_max_reserved_bytes"
    CPU_PEAK_RSS_BYTES = "cpu_peak_rss_bytes"
    CPU_PEAK_RSS_SCOPE = "cpu_peak_rss_scope"  # "this measurement" or "process so far"


MODE_INFERENCE = "inference"
MODE_TRAIN_STEP = "train_step"
DTYPES = ("float32", "bfloat16", "float16")  # what `trm bench --dtypes` measures
# The peak-memory figure to show, by Device.TYPE.
PEAK_MEMORY_KEY = {"cuda": Memory.CUDA_MAX_ALLOCATED_BYTES, "cpu": Memory.CPU_PEAK_RSS_BYTES}

REQUIRED_TOP = (DEVICE, SETTINGS, RESULTS)
REQUIRED_DEVICE = (Device.TYPE, Device.NAME)
REQUIRED_RESULT = (Result.MODE, Result.BATCH_SIZE, Result.DTYPE, Result.COMPILE)
REQUIRED_TIMED_RESULT = (
    Result.LATENCY_BATCH_S,
    Result.LATENCY_EXAMPLE_S,
    Result.THROUGHPUT_EXAMPLES_PER_S,
    Result.MEMORY,
)


class BenchFileError(UserError, ValueError):
    """A bench.json without a key that readers rely on."""


def check_bench(record: Any, path: str | os.PathLike = "bench.json") -> None:
    """Raise BenchFileError naming `path` and the first missing key of a bench.json record."""

    def need(obj: Any, keys: tuple[str, ...], where: str) -> None:
        if not isinstance(obj, dict):
            raise BenchFileError(f"{path}: {where or 'the file'} is not a JSON object")
        for key in keys:
            if key not in obj:
                raise BenchFileError(f"{path}: missing key {where}{key}")

    need(record, REQUIRED_TOP, "")
    need(record[DEVICE], REQUIRED_DEVICE, f"{DEVICE}.")
    peak = PEAK_MEMORY_KEY.get(record[DEVICE][Device.TYPE])
    if not isinstance(record[RESULTS], list):
        raise BenchFileError(f"{path}: {RESULTS} is not a list")
    for i, entry in enumerate(record[RESULTS]):
        where = f"{RESULTS}[{i}]."
        need(entry, REQUIRED_RESULT, where)
        if Result.ERROR in entry:
            continue
        need(entry, REQUIRED_TIMED_RESULT, where)
        need(
            entry[Result.LATENCY_BATCH_S], (Latency.MEDIAN, Latency.P90), where + "latency_batch_s."
        )
        if peak is not None:
            need(entry[Result.MEMORY], (peak,), where + f"{Result.MEMORY}.")
