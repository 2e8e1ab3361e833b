"""Timing and memory of repeated calls, and the device they ran on (for `trm bench`).

Latency: `warmup` untimed calls, then repeated timed ones (CUDA events on a GPU,
`time.perf_counter` on a CPU). Peak memory: CUDA's max allocated and reserved bytes, or the
process's peak resident set on a CPU (reset per measurement where Linux allows it).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from trm.bench.schema import Device, Latency, Memory


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
def memory_scope(device: str) -> Iterator[dict[str, Any]]:
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
    from trm.provenance import cpu_model

    return cpu_model()


def is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()
