"""`trm bench`: latency, throughput and peak memory of TRM inference and training steps
(trm.bench.measure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trm.bench.schema import DTYPES
from trm.command import CheckpointChoice, Command, Device, ModelChoice, Overwrite, Progress, Threads
from trm.settings import count, input_path, output_path, positive, setting, size

MAX_BATCH = 65_536  # examples in one call: inputs and activations are allocated at once
MAX_SEQ_LEN = 65_536  # tokens per example of a random model (ARC: 900)
MAX_PUZZLE_ROWS = 4_000_000  # puzzle-embedding rows of a random model (the paper's ARC: ~876k)


@dataclass(kw_only=True)
class BenchSettings(CheckpointChoice, ModelChoice, Device, Threads, Progress, Overwrite):
    checkpoint: Path | None = input_path(
        "step_N file, run folder or fetched checkpoint folder (weights loaded); without it, "
        "--arch gives a model with random weights",
        None,
    )
    data: Path | None = input_path(
        "dataset folder giving seq_len / vocab / puzzle identifiers (with --checkpoint)", None
    )
    out: Path = output_path("bench.json to write", folder=False)
    batch_sizes: list[int] = setting(
        [1, 4, 16], check=size(1, MAX_BATCH), unique=True, help="batch sizes to measure"
    )
    dtypes: list[str] = setting(
        ["float32", "bfloat16"], choices=DTYPES, unique=True, help="compute dtypes to measure"
    )
    compile: bool = setting(False, help="also measure torch.compile'd recursion", config=False)
    train_step: bool = setting(False, help="also measure training steps", config=False)
    warmup: int = setting(2, check=count(0, 10_000), help="untimed calls first")
    repeats: int = setting(10, check=count(1, 1_000_000), help="timed calls")
    max_seconds: float | None = setting(
        None, check=positive(), help="stop repeating a setting after this many timed seconds"
    )
    act_steps: int | None = setting(
        None,
        check=count(1, 10_000),
        help="ACT steps per inference call (default: the model's halt_max_steps)",
        config=False,
    )
    seq_len: int = setting(
        900, check=size(1, MAX_SEQ_LEN), help="sequence length without --data (ARC)", config=False
    )
    num_puzzle_identifiers: int = setting(
        1024,
        check=size(1, MAX_PUZZLE_ROWS),
        help="puzzle-embedding rows of a random model (the paper's ARC table has ~876k)",
        config=False,
    )


def bench(s: BenchSettings) -> int:
    from trm.bench.measure import run_bench
    from trm.bench.schema import DEVICE, RESULTS, Device, Latency, Result

    record = run_bench(s)
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
    print(f"wrote {s.out}")
    return 0


COMMANDS = [
    Command(
        "bench",
        BenchSettings,
        bench,
        help="latency / throughput / peak memory of TRM inference (and training steps)",
        description="Benchmark full eval-mode ACT inference over batch sizes, dtypes and "
        "optionally torch.compile; write bench.json with the device, versions and settings. "
        "The model: --checkpoint (its shape from all_config.yaml, --data or its weights), or "
        "--arch PRESET with random weights.",
    )
]
