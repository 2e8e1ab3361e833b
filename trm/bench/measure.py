"""Measurement for `trm bench`: latency, throughput and peak memory of TRM inference (and optionally training).

For each (compile, dtype, batch size): warm-up calls, then repeated timed calls of the full
eval-mode ACT (`trm.infer.predict`, halt_max_steps steps). Latency per batch and per example
(median, p90), throughput in examples/s (batch size / median batch latency), peak memory
(CUDA: max allocated and reserved; CPU: peak resident set of the process); the timers and
memory probes are trm.bench.timing's. Optionally one training step (one ACT segment: forward,
reference loss, backward, optimizer step) the same way.

bench.json says which device produced it: figures from different devices must never be mixed.
Timings on a shared machine are noisy; compare runs made side by side on the same machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trm.bench.schema import (
    DEVICE,
    MODE_INFERENCE,
    MODE_TRAIN_STEP,
    RESULTS,
    SECONDS,
    SETTINGS,
    STARTED_UNIX,
    Latency,
    Result,
    Settings,
    check_bench,
)
from trm.bench.timing import device_info, is_oom, memory_scope, summarize, time_calls
from trm.utils import resolve_device, write_json

if TYPE_CHECKING:
    from trm.cli.bench import BenchSettings

ARC_VOCAB_SIZE = 12  # a random model's vocabulary without --data: pad, end-of-grid, 10 colours

# --------------------------------------------------------------------------------------------
# Model and batches
# --------------------------------------------------------------------------------------------


def build_bench_model(s: BenchSettings, device: str) -> tuple[Any, dict[str, Any]]:
    """A model from a checkpoint (shape from its all_config.yaml, the dataset or its weights) or
    random weights for a preset (speed does not depend on the values). Returns (model, source).

    Built in float32; each measurement sets its own compute dtype."""
    from trm.model.build import (
        ModelConfigError,
        build_model_for_checkpoint,
        build_model_for_dataset,
        build_random_model,
        parse_overrides,
    )

    if s.checkpoint is None and s.arch is None:
        raise ModelConfigError("pass --checkpoint PATH or --arch PRESET")
    model_settings = {
        "overrides": parse_overrides(s.arch_override),
        "device": device,
        "dtype": "float32",
    }
    if s.checkpoint is not None and s.data is not None:
        model, info = build_model_for_dataset(
            s.checkpoint, s.data, step=s.step, preset=s.arch, **model_settings
        )
        return model, {
            "checkpoint": info["weights"],
            "data_dir": str(s.data),
            "arch_source": info["arch_source"],
        }
    shape = {
        "seq_len": s.seq_len,
        "vocab_size": ARC_VOCAB_SIZE,
        "num_puzzle_identifiers": s.num_puzzle_identifiers,
    }
    if s.checkpoint is not None:
        model, info = build_model_for_checkpoint(
            s.checkpoint, step=s.step, preset=s.arch, **shape, **model_settings
        )
        return model, {"checkpoint": info["weights"], "arch_source": info["arch_source"]}
    model, _ = build_random_model(s.arch, seed=0, **shape, **model_settings)
    return model, {"arch": s.arch, "weights": "random (seeded)"}


def random_batch(
    cfg: Any, batch_size: int, device: str, seed: int = 0, labels: bool = False
) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)

    def tokens() -> Any:
        shape = (batch_size, cfg.seq_len)
        return torch.randint(0, cfg.vocab_size, shape, generator=g, dtype=torch.int32)

    batch = {
        "inputs": tokens(),
        "puzzle_identifiers": torch.randint(
            min(1, cfg.num_puzzle_identifiers - 1),
            cfg.num_puzzle_identifiers,
            (batch_size,),
            generator=g,
            dtype=torch.int32,
        ),
    }
    if labels:
        batch["labels"] = tokens()
    return {k: v.to(device) for k, v in batch.items()}


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


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


def _measure(
    entry: dict[str, Any], fn: Callable[[], Any], s: BenchSettings, device: str, warmup_calls: int
) -> dict[str, Any]:
    """`entry` with the timings and peak memory of `fn`, or the out-of-memory error it hit."""
    import torch

    try:
        with memory_scope(device) as mem:
            times = time_calls(fn, device, warmup_calls, s.repeats, s.max_seconds)
    except RuntimeError as e:
        if not is_oom(e):
            raise
        entry[Result.ERROR] = f"out of memory: {str(e).splitlines()[0]}"
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        return entry
    entry.update(_timing_fields(times, entry[Result.BATCH_SIZE], s.warmup, mem))
    return entry


def _entry(mode: str, batch_size: int, dtype: str, compiled: bool) -> dict[str, Any]:
    return {
        Result.MODE: mode,
        Result.BATCH_SIZE: batch_size,
        Result.DTYPE: dtype,
        Result.COMPILE: compiled,
    }


def bench_inference(model: Any, s: BenchSettings, device: str) -> list[dict[str, Any]]:
    import torch

    from trm.infer import predict
    from trm.progress import progress as tqdm

    steps = s.act_steps or model.config.halt_max_steps
    results = []
    compile_modes = [False, True] if s.compile else [False]
    combos = [(c, d, b) for c in compile_modes for d in s.dtypes for b in s.batch_sizes]
    for compiled, dtype, bs in tqdm(combos, desc="bench inference", disable=s.no_progress):
        batch = random_batch(model.config, bs, device)
        tdtype = getattr(torch, dtype)
        entry = _entry(MODE_INFERENCE, bs, dtype, compiled) | {Result.ACT_STEPS: steps}

        def call(
            batch: dict[str, Any] = batch, tdtype: Any = tdtype, compiled: bool = compiled
        ) -> None:
            predict(model, batch, compile=compiled, dtype=tdtype, num_steps=steps)

        warmup_calls = max(s.warmup, 1 if compiled else 0)
        results.append(_measure(entry, call, s, device, warmup_calls))
    return results


def bench_train_step(model: Any, s: BenchSettings, device: str) -> list[dict[str, Any]]:
    """One training step = one ACT segment (train mode), reference loss, backward, AdamATan2 on
    the dense weights and sign-SGD on the batch's puzzle-embedding rows."""
    import copy

    import torch

    from trm.progress import progress as tqdm
    from trm.train import loss_step
    from trm.train.optim import SparseEmbeddingSignSGD, make_adam_atan2

    results = []
    combos = [(d, b) for d in s.dtypes for b in s.batch_sizes]
    for dtype, bs in tqdm(combos, desc="bench train step", disable=s.no_progress):
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

        entry = _entry(MODE_TRAIN_STEP, bs, dtype, False)
        try:
            results.append(_measure(entry, step, s, device, s.warmup))
        finally:
            del m, opts
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    return results


def run_bench(s: BenchSettings) -> dict[str, Any]:
    """Run the benchmark `s` declares and write it to `s.out` as JSON (atomically); returns it."""
    import torch

    device = resolve_device(s.device)
    old_threads = torch.get_num_threads()
    if s.threads is not None:
        torch.set_num_threads(s.threads)
    try:
        model, source = build_bench_model(s, device)
        t0 = time.time()
        results = bench_inference(model, s, device)
        if s.train_step:
            results += bench_train_step(model, s, device)
        record = {
            DEVICE: device_info(device),
            SETTINGS: {
                Settings.MODEL_SOURCE: source,
                Settings.MODEL_CONFIG: {k: v for k, v in vars(model.config).items()},
                Settings.PARAMETERS: sum(p.numel() for p in model.parameters()),
                Settings.BATCH_SIZES: s.batch_sizes,
                Settings.DTYPES: s.dtypes,
                Settings.COMPILE: s.compile,
                Settings.TRAIN_STEP: s.train_step,
                Settings.WARMUP: s.warmup,
                Settings.REPEATS: s.repeats,
                Settings.MAX_SECONDS: s.max_seconds,
                Settings.ACT_STEPS: s.act_steps or model.config.halt_max_steps,
                Settings.TIMER: "cuda events" if device.startswith("cuda") else "time.perf_counter",
                Settings.THROUGHPUT: "batch_size / median batch latency",
            },
            STARTED_UNIX: t0,
            SECONDS: time.time() - t0,
            RESULTS: results,
        }
    finally:
        torch.set_num_threads(old_threads)
    check_bench(record, s.out)  # the writer keeps the declared layout
    write_json(s.out, record)
    return record
