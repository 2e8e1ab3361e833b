"""`trm train --data DIR --out RUN [--resume] [OVERRIDE ...]` (Hydra overrides)."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a TRM on a prepared dataset (CPU, one GPU, or torchrun DDP)",
        description=(
            "Train a TRM on a prepared dataset. OVERRIDEs are Hydra overrides of config/train_root.yaml, "
            "e.g. `model=arc_paper train=arc_paper train.lr=3e-4 device=cpu`. Under "
            "`torchrun --nproc-per-node N` each process takes 1/N of train.global_batch_size. "
            "SIGTERM saves the full state to RUN/state.pt and exits with status 143; --resume continues. "
            "Fine-tuning: `train.init_from=CKPT` (or --init-from) starts from given weights, "
            "`train.freeze=dense` trains only the puzzle embeddings (docs/training.md)."
        ),
    )
    p.add_argument(
        "--data", required=True, type=Path, help="prepared dataset folder (has train/dataset.json)"
    )
    p.add_argument(
        "--out", required=True, type=Path, help="run folder (metrics.jsonl, state.pt, step_N, ...)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from RUN/state.pt (config from RUN/config.yaml)",
    )
    p.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        help="Hydra config folder (default: the checkout's config/)",
    )
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start from these weights: a step_N file, run folder or fetched checkpoint "
        "(same as the override train.init_from=PATH)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into --out even if it holds files that are not a trm training run",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra override, key=value")
    p.set_defaults(func=run_train)


def is_training_run(folder: Path) -> bool:
    """A folder `trm train` wrote: its config.yaml and all_config.yaml (written at start)."""
    return (folder / "config.yaml").is_file() and (folder / "all_config.yaml").is_file()


def run_train(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from trm.errors import InputError, UserError
    from trm.outputs import check_output_path
    from trm.train.check import check_overrides, overrides_from_cli
    from trm.train.config import (
        apply_overrides,
        compose_config,
        default_config_dir,
        validate_config,
    )
    from trm.train.loop import train

    if not (args.data / "train" / "dataset.json").exists():
        raise UserError(f"{args.data}: not a prepared dataset (no train/dataset.json)")
    overrides = list(args.overrides)
    if args.init_from is not None:
        if args.resume:
            raise UserError("--init-from starts a new run; --resume continues from RUN/state.pt")
        path = str(args.init_from)
        # quoted, so Hydra takes a path with `=`, `,` or spaces as one string
        overrides.append(
            f"train.init_from='{path}'" if "'" not in path else f"train.init_from={path}"
        )
    check_output_path(
        args.out,
        kind="training run",
        recognise=is_training_run,
        inputs=[args.data],
        overwrite=args.overwrite,
    )
    try:  # every ValueError here is about the user's config (the library predates trm.errors)
        if args.resume:
            saved = args.out / "config.yaml"
            if not saved.exists():
                raise UserError(
                    f"--resume: {saved} not found (was {args.out} written by `trm train`?)"
                )
            cfg = OmegaConf.load(saved)
            validate_config(cfg)  # type: ignore[arg-type]
            cfg = apply_overrides(cfg, overrides)  # type: ignore[arg-type]
        else:
            if (args.out / "state.pt").exists():
                raise UserError(
                    f"{args.out} already holds a training state: pass --resume, or choose another "
                    "--out"
                )
            problems = check_overrides(
                overrides_from_cli(overrides), args.config_dir or default_config_dir()
            )
            if problems:
                raise InputError(f"bad override(s): {'; '.join(problems)}")
            cfg = compose_config(overrides, args.config_dir)
    except (ValueError, yaml.YAMLError) as e:
        if isinstance(e, UserError):
            raise
        raise InputError(str(e)) from e
    result = train(cfg, args.data, args.out, resume=args.resume, progress=not args.no_progress)  # type: ignore[arg-type]
    if result.stopped_by_signal is not None:
        print(
            f"trm train: stopped by signal {result.stopped_by_signal} at step {result.step}; state saved to "
            f"{args.out / 'state.pt'} (continue with --resume)"
        )
    elif not result.finished:
        print(
            f"trm train: stopped at step {result.step} of {result.total_steps}; continue with --resume"
        )
    return result.exit_code
