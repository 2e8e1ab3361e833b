"""Time `trm.infer.predict` and a training step against side-by-side baselines.

Sizes: `arc` (the paper's ARC model: hidden 512, 8 heads, L_layers 2, H_cycles 3, L_cycles 4,
16 ACT steps, puzzle_emb_len 16, seq_len 900) and `tiny` (the golden fixtures' size).
Same random weights and inputs for every variant. Variants:

- predict: `trm.infer.predict` (eager; `--compile` adds a torch.compile'd run).
- stepwise: the reference evaluation loop rebuilt from our model: `model(carry, batch)` each
  ACT step plus the reference loss head (float64 stablemax), with the in-place kernels off.
- reference (optional, `--reference-dir DIR`): the reference code reconstructed in DIR as a
  module `reftrm` exposing `RefACT(config)` and `ref_loss(outputs, carry)`; loaded with the
  same weights. Never part of this repository.

Timings alternate between variants (A B A B ...) and report medians: on a shared machine they
are still noisy. Predictions are compared for equality. Example:

    .venv/bin/python benchmarks/bench_model.py --size arc --steps 1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from trm.infer import predict
from trm.model import TRM, TRMConfig
from trm.model.layers import set_fast_inference
from trm.train.loss import act_loss, loss_step

SIZES = {
    "arc": dict(
        seq_len=900,
        hidden_size=512,
        num_heads=8,
        expansion=4,
        L_layers=2,
        H_cycles=3,
        L_cycles=4,
        halt_max_steps=16,
        puzzle_emb_len=16,
        puzzle_emb_ndim=512,
        vocab_size=12,
        num_puzzle_identifiers=64,
        pos_encodings="rope",
    ),
    "tiny": dict(
        seq_len=36,
        hidden_size=64,
        num_heads=4,
        expansion=4,
        L_layers=2,
        H_cycles=2,
        L_cycles=3,
        halt_max_steps=4,
        puzzle_emb_len=4,
        puzzle_emb_ndim=64,
        vocab_size=12,
        num_puzzle_identifiers=10,
        pos_encodings="rope",
    ),
}


def build(size: str, batch: int, seed: int = 0) -> tuple[dict, TRM, dict[str, torch.Tensor]]:
    cfg = dict(SIZES[size], batch_size=batch, forward_dtype="float32", halt_exploration_prob=0.0)
    torch.manual_seed(seed)
    model = TRM(TRMConfig(**cfg))
    with torch.no_grad():  # non-zero q head and puzzle embeddings, as in the goldens
        model.q_head.weight.normal_(std=0.05)
        model.puzzle_emb.weights.normal_(std=0.5)
    gen = torch.Generator().manual_seed(seed + 1)
    shape = (batch, cfg["seq_len"])
    data = {
        "inputs": torch.randint(0, 12, shape, generator=gen, dtype=torch.int32),
        "labels": torch.randint(2, 12, shape, generator=gen, dtype=torch.int32),
        "puzzle_identifiers": torch.randint(
            1, 64 if size == "arc" else 10, (batch,), generator=gen, dtype=torch.int32
        ),
    }
    return cfg, model, data


def stepwise_eval(model: TRM, batch: dict[str, torch.Tensor], steps: int) -> torch.Tensor:
    """The reference evaluation loop: ACT steps with the loss head, reference ops."""
    set_fast_inference(False)
    try:
        model.eval()
        with torch.inference_mode():
            carry = model.initial_carry(batch)
            for _ in range(steps):
                carry, out = model(carry, batch)
                act_loss(out, carry)
        return out["logits"].argmax(-1)
    finally:
        set_fast_inference(True)


def load_reference(ref_dir: str, cfg: dict, model: TRM) -> torch.nn.Module:
    sys.path.insert(0, ref_dir)
    import reftrm  # type: ignore[import-not-found]

    ref = reftrm.RefACT(cfg)
    ref.inner.load_state_dict(model.state_dict())
    return ref


def reference_eval(
    ref: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int
) -> torch.Tensor:
    import reftrm  # type: ignore[import-not-found]

    ref.eval()
    with torch.inference_mode():
        carry = ref.initial_carry(batch)
        for _ in range(steps):
            carry, out = ref(carry, batch)
            reftrm.ref_loss(out, carry)
    return out["logits"].argmax(-1)


CPU_TIMES: dict[str, float] = {}


def time_alternating(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall seconds per variant; median process CPU seconds go to CPU_TIMES (less
    sensitive to other jobs on a shared machine)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    CPU_TIMES.clear()
    CPU_TIMES.update({k: statistics.median(v) for k, v in cpu.items()})
    return {k: statistics.median(v) for k, v in times.items()}


def bench(size: str, args: argparse.Namespace) -> dict:
    cfg, model, batch = build(size, args.batch)
    steps = args.steps or cfg["halt_max_steps"]
    ref = load_reference(args.reference_dir, cfg, model) if args.reference_dir else None
    result: dict = {
        "size": size,
        "batch": args.batch,
        "act_steps_timed": steps,
        "threads": torch.get_num_threads(),
    }

    # Correctness first: identical predictions.
    preds = {"predict": predict(model, batch, num_steps=steps)["preds"]}
    if not args.skip_stepwise:
        preds["stepwise"] = stepwise_eval(model, batch, steps)
    if ref is not None:
        preds["reference"] = reference_eval(ref, batch, steps)
    result["identical_preds"] = {
        k: bool(torch.equal(v, preds["predict"])) for k, v in preds.items()
    }

    fns: dict[str, Callable[[], object]] = {
        "predict": lambda: predict(model, batch, num_steps=steps)
    }
    if not args.skip_stepwise:
        fns["stepwise"] = lambda: stepwise_eval(model, batch, steps)
    if ref is not None:
        fns["reference"] = lambda: reference_eval(ref, batch, steps)
    if args.compile:
        t0 = time.perf_counter()
        compiled_preds = predict(model, batch, num_steps=steps, compile=True)["preds"]
        result["compile_s"] = time.perf_counter() - t0
        result["identical_preds"]["predict_compiled"] = bool(
            torch.equal(compiled_preds, preds["predict"])
        )
        fns["predict_compiled"] = lambda: predict(model, batch, num_steps=steps, compile=True)
    med = time_alternating(fns, args.repeats)
    total_steps = cfg["halt_max_steps"]
    result["predict"] = {
        name: {
            "s_per_act_step": t / steps,
            "examples_per_s_full_act": args.batch / (t / steps * total_steps),
            "cpu_s_per_act_step": CPU_TIMES[name] / steps,
        }
        for name, t in med.items()
    }
    base = "reference" if ref is not None else ("stepwise" if "stepwise" in med else "predict")
    cpu = dict(CPU_TIMES)
    result["predict_speedup_vs_" + base] = {k: med[base] / v for k, v in med.items()}
    result["predict_cpu_time_ratio_vs_" + base] = {k: cpu[base] / v for k, v in cpu.items()}

    if args.train:
        model.train()

        def our_train() -> None:
            loss, _, _ = loss_step(model, batch)
            loss.backward()
            model.zero_grad(set_to_none=True)

        tfns: dict[str, Callable[[], object]] = {"ours": our_train}
        if ref is not None:
            import reftrm  # type: ignore[import-not-found]

            def ref_train() -> None:
                ref.train()
                carry, out = ref(ref.initial_carry(batch), batch)
                reftrm.ref_loss(out, carry).backward()
                ref.zero_grad(set_to_none=True)

            tfns["reference"] = ref_train
        tmed = time_alternating(tfns, args.repeats)
        result["train_step"] = {
            k: {"s": v, "examples_per_s": args.batch / v, "cpu_s": CPU_TIMES[k]}
            for k, v in tmed.items()
        }
        if ref is not None:
            result["train_speedup_vs_reference"] = tmed["reference"] / tmed["ours"]
            result["train_cpu_time_ratio_vs_reference"] = CPU_TIMES["reference"] / CPU_TIMES["ours"]
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", choices=["arc", "tiny", "both"], default="both")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=0, help="ACT steps to time (0 = halt_max_steps)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--compile", action="store_true", help="also time predict(compile=True)")
    p.add_argument("--train", action="store_true", help="also time one training step")
    p.add_argument("--skip-stepwise", action="store_true", help="do not time the stepwise baseline")
    p.add_argument(
        "--reference-dir", default=None, help="folder with a reconstructed reference `reftrm.py`"
    )
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = ["arc", "tiny"] if args.size == "both" else [args.size]
    results = []
    for size in sizes:
        r = bench(size, args)
        results.append(r)
        print(json.dumps(r, indent=2), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
