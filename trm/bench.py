"""`trm bench`: latency, throughput and peak memory of TRM inference (and optionally training).

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

import argparse
import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trm.utils import resolve_device, write_json

DTYPES = ("float32", "bfloat16", "float16")


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
        "median": statistics.median(seconds),
        "p90": percentile(seconds, 90),
        "mean": statistics.fmean(seconds),
        "min": min(seconds),
        "max": max(seconds),
    }


def _cpu_peak_reset() -> bool:
    """Reset the process's peak RSS (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_peak_bytes() -> int:
    """Peak resident set size of this process in bytes (VmHWM, else getrusage)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
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
        out["cuda_max_allocated_bytes"] = int(torch.cuda.max_memory_allocated(device))
        out["cuda_max_reserved_bytes"] = int(torch.cuda.max_memory_reserved(device))
    else:
        scoped = _cpu_peak_reset()
        yield out
        out["cpu_peak_rss_bytes"] = _cpu_peak_bytes()
        # with the reset, the peak of this block; without it, of the process so far
        out["cpu_peak_rss_scope"] = "this measurement" if scoped else "process so far"


def device_info(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "type": "cuda" if device.startswith("cuda") else "cpu",
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "cpu_name": _cpu_name(),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=props.name,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            gpu_memory_bytes=int(props.total_memory),
            capability=f"{props.major}.{props.minor}",
        )
    else:
        info["name"] = info["cpu_name"]
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
    random weights for a preset (speed does not depend on the values). Returns (model, source)."""
    import torch

    from trm.hub import (
        build_model_for_dataset,
        load_state_dict,
        model_config,
        puzzle_emb_rows,
        resolve_checkpoint,
    )
    from trm.model import TRM, load_weights

    if checkpoint is None and arch is None:
        raise ValueError("trm bench: pass --checkpoint PATH or --arch PRESET")
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
        weights, saved = resolve_checkpoint(checkpoint)
        state = load_state_dict(weights)
        vocab = next(
            (
                int(v.shape[0])
                for k, v in state.items()
                if k.endswith("embed_tokens.embedding_weight")
            ),
            vocab_size,
        )
        rows = puzzle_emb_rows(state) or num_puzzle_identifiers
        cfg = model_config(
            saved, seq_len, vocab, rows, preset=arch, overrides=overrides, forward_dtype="float32"
        )
        model = TRM.from_reference_config(cfg)
        load_weights(model, state, strict=True)
        source = {
            "checkpoint": str(weights),
            "arch_source": "all_config.yaml" if saved else f"--arch {arch}",
        }
    else:
        cfg = model_config(
            None,
            seq_len,
            vocab_size,
            num_puzzle_identifiers,
            preset=arch,
            overrides=overrides,
            forward_dtype="float32",
        )
        torch.manual_seed(seed)
        model = TRM.from_reference_config(cfg)
        source = {"arch": arch, "weights": "random (seeded)"}
    return model.to(device).eval(), source


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
    from tqdm import tqdm

    from trm.infer import predict

    steps = act_steps or model.config.halt_max_steps
    results = []
    combos = [(c, d, b) for c in compile_modes for d in dtypes for b in batch_sizes]
    for compiled, dtype, bs in tqdm(combos, desc="bench inference", disable=not progress):
        batch = random_batch(model.config, bs, device)
        tdtype = getattr(torch, dtype)
        entry: dict[str, Any] = {
            "mode": "inference",
            "batch_size": bs,
            "dtype": dtype,
            "compile": compiled,
            "act_steps": steps,
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
            entry["error"] = f"out of memory: {str(e).splitlines()[0]}"
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
        "runs": len(times),
        "warmup": warmup,
        "latency_batch_s": lat,
        "latency_example_s": {"median": lat["median"] / batch_size, "p90": lat["p90"] / batch_size},
        "throughput_examples_per_s": batch_size / lat["median"],
        "memory": mem,
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
    from tqdm import tqdm

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
            "mode": "train_step",
            "batch_size": bs,
            "dtype": dtype,
            "compile": False,
        }
        try:
            with _memory_scope(device) as mem:
                times = time_calls(step, device, warmup, repeats, max_seconds)
        except RuntimeError as e:
            if not _is_oom(e):
                raise
            entry["error"] = f"out of memory: {str(e).splitlines()[0]}"
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
        raise ValueError(f"--batch-sizes must be positive integers, got {batch_sizes}")
    bad = [d for d in dtypes if d not in DTYPES]
    if bad or not dtypes:
        raise ValueError(f"--dtypes {bad or dtypes}: choose from {list(DTYPES)}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"--repeats must be >= 1 and --warmup >= 0 (got {repeats}, {warmup})")
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
            "device": device_info(device),
            "settings": {
                "model_source": source,
                "model_config": {k: v for k, v in vars(model.config).items()},
                "parameters": sum(p.numel() for p in model.parameters()),
                "batch_sizes": batch_sizes,
                "dtypes": dtypes,
                "compile": compile,
                "train_step": train_step,
                "warmup": warmup,
                "repeats": repeats,
                "max_seconds": max_seconds,
                "act_steps": act_steps or model.config.halt_max_steps,
                "timer": "cuda events" if device.startswith("cuda") else "time.perf_counter",
                "throughput": "batch_size / median batch latency",
            },
            "started_unix": t0,
            "seconds": time.time() - t0,
            "results": results,
        }
    finally:
        torch.set_num_threads(old_threads)
    if out is not None:
        write_json(Path(out), record)
    return record


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _cmd_bench(args: argparse.Namespace) -> int:
    from trm.hub import parse_overrides

    record = run_bench(
        checkpoint=args.checkpoint,
        arch=args.arch,
        data_dir=args.data,
        out=args.out,
        batch_sizes=args.batch_sizes,
        dtypes=[d for d in args.dtypes.split(",") if d],
        compile=args.compile,
        train_step=args.train_step,
        device=args.device,
        warmup=args.warmup,
        repeats=args.repeats,
        max_seconds=args.max_seconds,
        act_steps=args.act_steps,
        seq_len=args.seq_len,
        num_puzzle_identifiers=args.num_puzzle_identifiers,
        overrides=parse_overrides(args.arch_override),
        threads=args.threads,
        progress=not args.no_progress,
    )
    dev = record["device"]
    print(f"device: {dev['type']} ({dev['name']}), torch {dev['torch']}, {dev['threads']} threads")
    for r in record["results"]:
        head = f"{r['mode']:<10} bs={r['batch_size']:<4} {r['dtype']:<9} compile={str(r['compile']):<5}"
        if "error" in r:
            print(f"{head} {r['error']}")
        else:
            lat = r["latency_batch_s"]
            print(
                f"{head} median {lat['median'] * 1e3:9.2f} ms  p90 {lat['p90'] * 1e3:9.2f} ms  "
                f"{r['throughput_examples_per_s']:9.1f} ex/s"
            )
    print(f"wrote {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from trm.hub import ARCH_PRESETS

    p = subparsers.add_parser(
        "bench",
        help="latency / throughput / peak memory of TRM inference (and training steps)",
        description="Benchmark full eval-mode ACT inference over batch sizes, dtypes and "
        "optionally torch.compile; write bench.json with the device, versions and settings.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="step_N file or checkpoint folder (weights loaded)")
    p.add_argument(
        "--arch",
        help=f"model preset ({', '.join(ARCH_PRESETS)}): random weights, or the shape of a checkpoint without all_config.yaml",
    )
    p.add_argument(
        "--data",
        help="dataset folder giving seq_len / vocab / puzzle identifiers (with --checkpoint)",
    )
    p.add_argument(
        "--batch-sizes", type=_int_list, default=[1, 4, 16], help="comma-separated (default 1,4,16)"
    )
    p.add_argument(
        "--dtypes", default="float32,bfloat16", help="comma-separated: float32,bfloat16,float16"
    )
    p.add_argument("--compile", action="store_true", help="also measure torch.compile'd recursion")
    p.add_argument("--train-step", action="store_true", help="also measure training steps")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda (default auto)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    p.add_argument("--repeats", type=int, default=10, help="timed calls (default 10)")
    p.add_argument(
        "--max-seconds", type=float, help="stop repeating a setting after this many timed seconds"
    )
    p.add_argument(
        "--act-steps", type=int, help="ACT steps per inference call (default halt_max_steps)"
    )
    p.add_argument(
        "--seq-len", type=int, default=900, help="sequence length without --data (default 900, ARC)"
    )
    p.add_argument(
        "--num-puzzle-identifiers",
        type=int,
        default=1024,
        help="puzzle-embedding rows for random models (default 1024; the paper's ARC table has ~876k)",
    )
    p.add_argument(
        "--arch-override", action="append", metavar="KEY=VALUE", help="override a model setting"
    )
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--out", required=True, help="bench.json to write")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_bench)
