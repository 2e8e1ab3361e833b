"""`trm train --data DIR --out RUN [--resume] [OVERRIDE ...]`: train a model (trm.train.loop).

The model and training settings are the Hydra config groups config/model and config/train (their
one declaration); OVERRIDEs such as `model=arc_paper train.lr=3e-4` pick and change them and
are checked against them (trm.train.config). This command declares only its own flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NewType

from trm.command import Command, Overwrite, Progress, Resume
from trm.settings import input_path, output_path, setting

# A Hydra override, taken verbatim: `train.freeze=[a,b]` keeps its commas.
HydraOverride = NewType("HydraOverride", str)


@dataclass(kw_only=True)
class TrainSettings(Resume, Progress, Overwrite):
    data: Path = input_path("prepared dataset folder (has train/dataset.json)")
    out: Path = output_path(
        "run folder: config.yaml, all_config.yaml, metrics.jsonl, state.pt, step_N, final.json",
        folder=True,
        incremental=True,
    )
    config_dir: Path | None = input_path(
        "Hydra config folder (default: the checkout's config/)", None
    )
    init_from: Path | None = input_path(
        "start from these weights: a step_N file, run folder or fetched checkpoint (same as "
        "the override train.init_from=PATH)",
        None,
    )
    overrides: list[HydraOverride] = setting(
        [],
        help="Hydra override of config/train_root.yaml, e.g. model=arc_paper train.lr=3e-4",
        positional=True,
        metavar="OVERRIDE",
        config=False,
    )


def _fresh_start(s: TrainSettings, cfg: Any) -> None:
    """A new run in a folder an earlier run wrote (the guard allowed it: its marker or
    --overwrite) starts from nothing of that run: its step_N, final.json and metrics are
    removed (one line says which), never kept for `trm predict` to load later."""
    import sys

    from trm.command import _secondary_rank, refuse_overlap
    from trm.train.run_files import clear_previous_run

    init_from = cfg.train.get("init_from")
    if init_from:  # the override form of --init-from: an input too
        refuse_overlap(COMMAND, s, [init_from])
    if _secondary_rank():
        return
    removed = clear_previous_run(s.out)
    if removed:
        print(
            f"trm train: {s.out} held an earlier run without a training state to resume: "
            f"removed its {', '.join(removed)}",
            file=sys.stderr,
        )


def train(s: TrainSettings) -> int:
    from trm.errors import UserError
    from trm.train.config import run_config
    from trm.train.loop import train as run

    if not (s.data / "train" / "dataset.json").exists():
        raise UserError(f"{s.data}: not a prepared dataset (no train/dataset.json)")
    cfg = run_config(
        s.out, list(s.overrides), resume=s.resume, config_dir=s.config_dir, init_from=s.init_from
    )
    if not s.resume:
        _fresh_start(s, cfg)
    result = run(cfg, s.data, s.out, resume=s.resume, progress=not s.no_progress)
    if result.stopped_by_signal is not None:
        print(
            f"trm train: stopped by signal {result.stopped_by_signal} at step {result.step}; "
            f"state saved to {s.out / 'state.pt'} (continue with --resume)"
        )
    elif not result.finished:
        print(
            f"trm train: stopped at step {result.step} of {result.total_steps}; continue with "
            "--resume"
        )
    return result.exit_code


COMMAND = Command(
    "train",
    TrainSettings,
    train,
    help="train a TRM on a prepared dataset (CPU, one GPU, or torchrun DDP)",
    description=(
        "Train a TRM on a prepared dataset. OVERRIDEs are Hydra overrides of "
        "config/train_root.yaml, e.g. `model=arc_paper train=arc_paper train.lr=3e-4 "
        "device=cpu`. Under `torchrun --nproc-per-node N` each process takes 1/N of "
        "train.global_batch_size. SIGTERM saves the full state to RUN/state.pt and exits "
        "with status 143; --resume continues from it (the config from RUN/config.yaml, "
        "with key=value OVERRIDEs). Fine-tuning: `train.init_from=CKPT` (or "
        "--init-from) starts from given weights, `train.freeze=dense` trains only the "
        "puzzle embeddings (docs/training.md)."
    ),
)
COMMANDS = [COMMAND]
