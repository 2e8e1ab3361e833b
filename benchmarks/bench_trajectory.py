"""Extra predict time of `--trajectory` against a plain predict, side by side in one process.

    PYTHONPATH=. python benchmarks/bench_trajectory.py [--rows 108] [--repeats 3] [--device cpu]

Uses the golden ARC dataset (../shared/golden/arc-mini/upstream-aug-8) and a random `tiny`
TRM; alternates plain and trajectory runs and prints the median seconds and their ratio, and the
bytes the per-step fields take per example per step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from trm.cli.predict import PredictSettings
from trm.eval.predict import run_predict
from trm.eval.predictions import STEP_FIELDS, read_predictions
from trm.model.build import build_random_model

DATA = Path(__file__).resolve().parents[1].parent / "shared/golden/arc-mini/upstream-aug-8"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=108)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    model, _ = build_random_model("tiny", seq_len=900, vocab_size=12, num_puzzle_identifiers=433)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "step_1"
        torch.save(model.state_dict(), ckpt)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for traj in (False, True):
                out = Path(tmp) / f"p{int(traj)}.npz"
                t0 = time.perf_counter()
                run_predict(
                    PredictSettings(
                        checkpoint=ckpt,
                        data=DATA,
                        out=out,
                        batch_size=36,
                        max_examples=args.rows,
                        device=args.device,
                        arch="tiny",
                        no_progress=True,
                        threads=args.threads,
                        trajectory=traj,
                        overwrite=True,
                    )
                )
                times[traj].append(time.perf_counter() - t0)
        pred = read_predictions(Path(tmp) / "p1.npz")
        n, steps = pred.optional[STEP_FIELDS[0]].shape
        size = sum(pred.optional[k].nbytes for k in STEP_FIELDS) / (n * steps)
    plain, traj = statistics.median(times[False]), statistics.median(times[True])
    print(f"rows {args.rows}, {steps} ACT steps, device {args.device}, threads {args.threads}")
    print(f"plain predict      {plain:.2f} s (median of {args.repeats})")
    print(f"with --trajectory  {traj:.2f} s  ratio {traj / plain:.3f}")
    print(f"per-step storage   {size:.0f} bytes per example per step")


if __name__ == "__main__":
    main()
