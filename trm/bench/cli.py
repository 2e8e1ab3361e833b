"""`trm bench`: the command line of trm.bench.measure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trm import cli_options as opt
from trm.bench.schema import DEVICE, REQUIRED_TOP, RESULTS, Device, Latency, Result


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def is_bench_json(path: Path) -> bool:
    """recognise(): a bench.json an earlier `trm bench` wrote (device, settings and results)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and all(k in record for k in REQUIRED_TOP)


def _cmd_bench(args: argparse.Namespace) -> int:
    from trm.bench.measure import run_bench
    from trm.model.build import parse_overrides
    from trm.outputs import check_output_path

    check_output_path(
        args.out,
        kind="bench.json",
        recognise=is_bench_json,
        inputs=[p for p in (args.checkpoint, args.data) if p],
        overwrite=args.overwrite,
    )

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
    dev = record[DEVICE]
    print(
        f"device: {dev[Device.TYPE]} ({dev[Device.NAME]}), torch {dev[Device.TORCH]}, "
        f"{dev[Device.THREADS]} threads"
    )
    for r in record[RESULTS]:
        head = (
            f"{r[Result.MODE]:<10} bs={r[Result.BATCH_SIZE]:<4} {r[Result.DTYPE]:<9} "
            f"compile={str(r[Result.COMPILE]):<5}"
        )
        if Result.ERROR in r:
            print(f"{head} {r[Result.ERROR]}")
        else:
            lat = r[Result.LATENCY_BATCH_S]
            print(
                f"{head} median {lat[Latency.MEDIAN] * 1e3:9.2f} ms  "
                f"p90 {lat[Latency.P90] * 1e3:9.2f} ms  "
                f"{r[Result.THROUGHPUT_EXAMPLES_PER_S]:9.1f} ex/s"
            )
    print(f"wrote {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
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
        help="model preset, a config/model/<preset>.yaml (tiny, tiny_golden, arc_paper, ...): "
        "random weights, or the shape of a checkpoint without all_config.yaml",
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
    opt.add_device(p)
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
    opt.add_threads(p)
    p.add_argument("--out", required=True, help="bench.json to write")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if it is not a bench.json written by `trm bench`",
    )
    opt.add_no_progress(p)
    p.set_defaults(func=_cmd_bench)
