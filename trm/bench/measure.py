"""Measurement for `trm bench`: latency, throughput and peak memory of TRM inference (and optionally training).

For each (compile, dtype, batch size): warm-up calls, then repeated timed calls of the full
eval-mode ACT (`trm.infer.predict`, halt_max_steps steps). Latency per batch and per example
(median, p90), throughput in examples/s (batch size / median batch latency), peak memory
(CUDA: max allocated and reserved; CPU: peak resident set of the process). On GPU, timings use
CUDA events; on CPU, `time.perf_counter`. Optionally one training step (one ACT segment:
forward, reference loss, backward, optimizer step) the same way.

bench.json says which device produced it: figures from different devices must never be mixed.
Timings on a shared machine are noisy; compare runs made side by side on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trm.bench.schema import (
    DEVICE,
    MODE_INFERENCE,
    MODE_TRAIN_STEP,
    RESULTS,
    SECONDS,
    SETTINGS,
    STARTED_UNIX,
    Device,
    Latency,
    Memory,
    Result,
    Settings,
    check_bench,
)
from trm.errors import UserError
from trm.utils import resolve_device, write_json

DTYPES = ("float32", "bfloat16", "float16")


class BenchSettingsError(UserError, ValueError):
    """Benchmark settings that cannot be measured (batch sizes, dtypes, repeats)."""


# --------------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("percentile of an empty list")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(seconds: list[float]) -> dict[str, float]:
    return {
        Latency.MEDIAN: statistics.median(seconds),
        Latency.P90: percentile(seconds, 90),
        Latency.MEAN: statistics.fmean(seconds),
        Latency.MIN: min(seconds),
        Latency.MAX: max(seconds),
    }


def _cpu_peak_reset() -> bool:
    """Reset the process's peak RSS (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _proc_value(path: str, key: str) -> str | None:
    """The value after `key:` on the first line of a /proc file that starts with key (Linux)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_peak_bytes() -> int:
    """Peak resident set size of this process in bytes (VmHWM, else getrusage)."""
    hwm = _proc_value("/proc/self/status", "VmHWM:")  # "123456 kB"
    if hwm is not None:
        return int(hwm.split()[0]) * 1024
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if platform.system() == "Darwin" else rss * 1024)


def time_calls(
    fn: Callable[[], Any],
    device: str,
    warmup: int,
    repeats: int,
    max_seconds: float | None = None,
) -> list[float]:
    """Seconds per call of fn: `warmup` untimed calls, then up to `repeats` timed ones (fewer when
    `max_seconds` of timed calls have passed, but at least one)."""
    import torch

    cuda = device.startswith("cuda")
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize(device)
    times: list[float] = []
    for _ in range(repeats):
        if cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000.0)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        if max_seconds is not None and sum(times) >= max_seconds:
            break
    return times


@contextlib.contextmanager
def _memory_scope(device: str) -> Any:
    """Yield a dict that is filled with the peak memory of the block."""
    import torch

    out: dict[str, Any] = {}
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        yield out
        torch.cuda.synchronize(device)
        out[Memory.CUDA_MAX_ALLOCATED_BYTES] = int(torch.cuda.max_memory_allocated(device))
        out[Memory.CUDA_MAX_RESERVED_BYTES] = int(torch.cuda.max_memory_reserved(device))
    else:
        scoped = _cpu_peak_reset()
        yield out
        out[Memory.CPU_PEAK_RSS_BYTES] = _cpu_peak_bytes()
        # with the reset, the peak of this block; without it, of the process so far
        out[Memory.CPU_PEAK_RSS_SCOPE] = "this measurement" if scoped else "process so far"


def device_info(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        Device.TYPE: "cuda" if device.startswith("cuda") else "cpu",
        Device.DEVICE: device,
        Device.TORCH: torch.__version__,
        Device.PYTHON: platform.python_version(),
        Device.HOST: platform.node(),
        Device.CPU_COUNT: os.cpu_count(),
        Device.THREADS: torch.get_num_threads(),
        Device.CPU_NAME: _cpu_name(),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(
            {
                Device.NAME: props.name,
                Device.CUDA: torch.version.cuda,
                Device.CUDNN: torch.backends.cudnn.version(),
                Device.GPU_MEMORY_BYTES: int(props.total_memory),
                Device.CAPABILITY: f"{props.major}.{props.minor}",
            }
        )
    else:
        info[Device.NAME] = info[Device.CPU_NAME]
    return info


def _cpu_name() -> str:
    return _proc_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


# --------------------------------------------------------------------------------------------
# Model and batches
# --------------------------------------------------------------------------------------------


def build_bench_model(
    *,
    checkpoint: str | os.PathLike | None = None,
    arch: str | None = None,
    data_dir: str | os.PathLike | None = None,
    seq_len: int = 900,
    vocab_size: int = 12,
    num_puzzle_identifiers: int = 1024,
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """A model from a checkpoint (shape from its all_config.yaml, the dataset or its weights) or
    random weights for a preset (speed does not depend on the values). Returns (model, source).

    Built in float32; each measurement sets its own compute dtype."""
    from trm.model.build import (
        ModelConfigError,
        build_model_for_checkpoint,
        build_model_for_dataset,
        build_random_model,
    )

    if checkpoint is None and arch is None:
        raise ModelConfigError("trm bench: pass --checkpoint PATH or --arch PRESET")
    if checkpoint is not None and data_dir is not None:
        model, info = build_model_for_dataset(
            checkpoint, data_dir, preset=arch, overrides=overrides, device=device, dtype="float32"
        )
        return model, {
            "checkpoint": info["weights"],
            "data_dir": str(data_dir),
            "arch_source": info["arch_source"],
        }
    if checkpoint is not None:
        model, info = build_model_for_checkpoint(
            checkpoint,
            seq_len=seq_len,
            vocab_size=vocab_size,
            num_puzzle_identifiers=num_puzzle_identifiers,
            preset=arch,
            overrides=overrides,
            device=device,
            dtype="float32",
        )
        return model, {"checkpoint": info["weights"], "arch_source": info["arch_source"]}
    model, _ = build_random_model(
        arch,
        seq_len=seq_len,
        vocab_size=vocab_size,
        num_puzzle_identifiers=num_puzzle_identifiers,
        overrides=overrides,
        device=device,
        dtype="float32",
        seed=seed,
    )
    return model, {"arch": arch, "weights": "random (seeded)"}


def random_batch(
    cfg: Any, batch_size: int, device: str, seed: int = 0, labels: bool = False
) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    batch = {
        "inputs": torch.randint(
            0, cfg.vocab_size, (batch_size, cfg.seq_len), generator=g, dtype=torch.int32
        ),
        "puzzle_identifiers": torch.randint(
            min(1, cfg.num_puzzle_identifiers - 1),
            cfg.num_puzzle_identifiers,
            (batch_size,),
            generator=g,
            dtype=torch.int32,
        ),
    }
    if labels:
        batch["labels"] = torch.randint(
            0, cfg.vocab_size, (batch_size, cfg.seq_len), generator=g, dtype=torch.int32
        )
    return {k: v.to(device) for k, v in batch.items()}


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def bench_inference(
    model: Any,
    device: str,
    batch_sizes: list[int],
    dtypes: list[str],
    compile_modes: list[bool],
    warmup: int,
    repeats: int,
    max_seconds: float | None = None,
    act_steps: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    import torch

    from trm.infer import predict
    from trm.progress import progress as tqdm

    steps = act_steps or model.config.halt_max_steps
    results = []
    combos = [(c, d, b) for c in compile_modes for d in dtypes for b in batch_sizes]
    for compiled, dtype, bs in tqdm(combos, desc="bench inference", disable=not progress):
        batch = random_batch(model.config, bs, device)
        tdtype = getattr(torch, dtype)
        entry: dict[str, Any] = {
            Result.MODE: MODE_INFERENCE,
            Result.BATCH_SIZE: bs,
            Result.DTYPE: dtype,
            Result.COMPILE: compiled,
            Result.ACT_STEPS: steps,
        }

        def call(
            batch: dict[str, Any] = batch, tdtype: Any = tdtype, compiled: bool = compiled
        ) -> None:
            predict(model, batch, compile=compiled, dtype=tdtype, num_steps=steps)

        try:
            with _memory_scope(device) as mem:
                times = time_calls(
                    call, device, max(warmup, 1 if compiled else 0), repeats, max_seconds
                )
        except RuntimeError as e:
            if not _is_oom(e):
                raise
            entry[Result.ERROR] = f"out of memory: {str(e).splitlines()[0]}"
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
            results.append(entry)
            continue
        entry.update(_timing_fields(times, bs, warmup, mem))
        results.append(entry)
    return results


def _timing_fields(times: list[float], batch_size: int, warmup: int, mem: Any) -> dict[str, Any]:
    """Latency per batch and per example (median, p90), throughput and memory of one setting."""
    lat = summarize(times)
    return {
        Result.RUNS: len(times),
        Result.WARMUP: warmup,
        Result.LATENCY_BATCH_S: lat,
        Result.LATENCY_EXAMPLE_S: {
            Latency.MEDIAN: lat[Latency.MEDIAN] / batch_size,
            Latency.P90: lat[Latency.P90] / batch_size,
        },
        Result.THROUGHPUT_EXAMPLES_PER_S: batch_size / lat[Latency.MEDIAN],
        Result.MEMORY: mem,
    }


def bench_train_step(
    model: Any,
    device: str,
    batch_sizes: list[int],
    dtypes: list[str],
    warmup: int,
    repeats: int,
    max_seconds: float | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One training step = one ACT segment (train mode), reference loss, backward, AdamATan2 on
    the dense weights and sign-SGD on the batch's puzzle-embedding rows."""
    import copy

    import torch

    from trm.progress import progress as tqdm
    from trm.train import loss_step
    from trm.train.optim import SparseEmbeddingSignSGD, make_adam_atan2

    results = []
    combos = [(d, b) for d in dtypes for b in batch_sizes]
    for dtype, bs in tqdm(combos, desc="bench train step", disable=not progress):
        m = copy.deepcopy(model).train()  # the optimizer changes the weights
        m.set_forward_dtype(dtype)
        dense = [p for p in m.parameters() if p.requires_grad]
        opts = [make_adam_atan2(dense, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)]
        if getattr(m, "puzzle_emb", None) is not None:
            opts.append(SparseEmbeddingSignSGD(m.puzzle_emb, lr=1e-2, weight_decay=0.1))
        batch = random_batch(m.config, bs, device, labels=True)
        state: dict[str, Any] = {"carry": None}

        def step(
            m: Any = m,
            batch: dict[str, Any] = batch,
            opts: list[Any] = opts,
            state: dict[str, Any] = state,
        ) -> None:
            loss, _, carry = loss_step(m, batch, state["carry"])
            state["carry"] = carry
            (loss / batch["inputs"].shape[0]).backward()
            for o in opts:
                o.step()
                o.zero_grad()

        entry: dict[str, Any] = {
            Result.MODE: MODE_TRAIN_STEP,
            Result.BATCH_SIZE: bs,
            Result.DTYPE: dtype,
            Result.COMPILE: False,
        }
        try:
            with _memory_scope(device) as mem:
                times = time_calls(step, device, warmup, repeats, max_seconds)
        except RuntimeError as e:
            if not _is_oom(e):
                raise
            entry[Result.ERROR] = f"out of memory: {str(e).splitlines()[0]}"
            results.append(entry)
            continue
        finally:
            del m, opts
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
        entry.update(_timing_fields(times, bs, warmup, mem))
        results.append(entry)
    return results


def run_bench(
    *,
    checkpoint: str | os.PathLike | None = None,
    arch: str | None = None,
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    batch_sizes: list[int] = (1, 4, 16),  # type: ignore[assignment]
    dtypes: list[str] = ("float32", "bfloat16"),  # type: ignore[assignment]
    compile: bool = False,
    train_step: bool = False,
    device: str = "auto",
    warmup: int = 2,
    repeats: int = 10,
    max_seconds: float | None = None,
    act_steps: int | None = None,
    seq_len: int = 900,
    num_puzzle_identifiers: int = 1024,
    overrides: dict[str, Any] | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the benchmark and (when `out` is given) write it as JSON atomically; returns it."""
    import torch

    batch_sizes = [int(b) for b in batch_sizes]
    dtypes = list(dtypes)
    if not batch_sizes or min(batch_sizes) < 1:
        raise BenchSettingsError(f"--batch-sizes must be positive integers, got {batch_sizes}")
    bad = [d for d in dtypes if d not in DTYPES]
    if bad or not dtypes:
        raise BenchSettingsError(f"--dtypes {bad or dtypes}: choose from {list(DTYPES)}")
    if repeats < 1 or warmup < 0:
        raise BenchSettingsError(
            f"--repeats must be >= 1 and --warmup >= 0 (got {repeats}, {warmup})"
        )
    device = resolve_device(device)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        model, source = build_bench_model(
            checkpoint=checkpoint,
            arch=arch,
            data_dir=data_dir,
            seq_len=seq_len,
            num_puzzle_identifiers=num_puzzle_identifiers,
            overrides=overrides,
            device=device,
        )
        t0 = time.time()
        results = bench_inference(
            model,
            device,
            batch_sizes,
            dtypes,
            [False, True] if compile else [False],
            warmup,
            repeats,
            max_seconds,
            act_steps,
            progress,
        )
        if train_step:
            results += bench_train_step(
                model, device, batch_sizes, dtypes, warmup, repeats, max_seconds, progress
            )
        record = {
            DEVICE: device_info(device),
            SETTINGS: {
                Settings.MODEL_SOURCE: source,
                Settings.MODEL_CONFIG: {k: v for k, v in vars(model.config).items()},
                Settings.PARAMETERS: sum(p.numel() for p in model.parameters()),
                Settings.BATCH_SIZES: batch_sizes,
                Settings.DTYPES: dtypes,
                Settings.COMPILE: compile,
                Settings.TRAIN_STEP: train_step,
                Settings.WARMUP: warmup,
                Settings.REPEATS: repeats,
                Settings.MAX_SECONDS: max_seconds,
                Settings.ACT_STEPS: act_steps or model.config.halt_max_steps,
                Settings.TIMER: "cuda events" if device.startswith("cuda") else "time.perf_counter",
                Settings.THROUGHPUT: "batch_size / median batch latency",
            },
            STARTED_UNIX: t0,
            SECONDS: time.time() - t0,
            RESULTS: results,
        }
    finally:
        torch.set_num_threads(old_threads)
    check_bench(record, out or "bench.json")  # the writer keeps the declared layout
    if out is not None:
        write_json(Path(out), record)
    return record
