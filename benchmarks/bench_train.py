"""Time training steps of `trm train` on a generated dataset (CPU or GPU).

    .venv/bin/python benchmarks/bench_train.py --steps 30 model=tiny model.forward_dtype=float32
    .venv/bin/python benchmarks/bench_train.py --steps 30 model=tiny model.forward_dtype=bfloat16

Prints the median and mean seconds per step (after `--warmup` steps) and examples/s. On a
shared machine the numbers are noisy: compare configurations side by side in one session.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument(
        "--side", type=int, default=6, help="grid side of the generated task (seq_len = side^2)"
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from trm.train.config import compose_config
    from trm.train.loop import Trainer
    from trm.train.synthetic import write_grid_task

    with tempfile.TemporaryDirectory() as tmp:
        data = write_grid_task(
            Path(tmp) / "data",
            n_groups=64,
            puzzles_per_group=1,
            examples_per_puzzle=8,
            side=args.side,
        )
        cfg = compose_config(
            [
                "model=tiny",
                "train=cpu_smoke",
                f"train.global_batch_size={args.batch}",
                "train.epochs=10000",
                f"train.max_steps={args.steps + args.warmup + 1}",
                "train.checkpoint_every=0",
                *args.overrides,
            ]
        )
        trainer = Trainer(cfg, data, Path(tmp) / "run", resume=False, progress=False)
        batches = iter(trainer.sampler)
        times = []
        for i in range(args.warmup + args.steps):
            tb = next(batches)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            trainer.train_step(tb.batch)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(
        json.dumps(
            {
                "overrides": args.overrides,
                "device": str(trainer.device),
                "forward_dtype": trainer.arch["forward_dtype"],
                "threads": torch.get_num_threads(),
                "batch": args.batch,
                "seq_len": args.side**2,
                "steps": len(times),
                "median_s_per_step": round(med, 5),
                "mean_s_per_step": round(statistics.mean(times), 5),
                "examples_per_s": round(args.batch / med, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
