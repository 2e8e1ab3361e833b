"""`trm adapt`: argument parsing only; the work is done by trm.train.adapt."""

from __future__ import annotations

import argparse

from trm import cli_options as opt
from trm.train.adapt_schema import AdaptConfig

_D = AdaptConfig()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "adapt",
        help="fit the puzzle embeddings of tasks a checkpoint never saw (weights frozen)",
        description=(
            "Rebuild the puzzle-embedding table of --checkpoint (trained on --source-data) for "
            "the identifiers of --data: rows of puzzles --source-data knows are copied, the "
            "others start as the reference initialises them and are fitted on their examples "
            "in --data's train split (an ARC test task's demonstration pairs) with sign-SGD, "
            "every weight frozen. Writes OUT/step_N + OUT/all_config.yaml (for `trm predict "
            "--checkpoint OUT --data DATA`) and OUT/adapt.json. --steps 0 only expands the table."
        ),
    )
    opt.add_checkpoint(p)
    p.add_argument(
        "--source-data",
        required=True,
        help="the prepared dataset the checkpoint was trained on (its identifiers.json)",
    )
    p.add_argument("--data", required=True, help="prepared dataset with the unseen tasks")
    p.add_argument("--out", required=True, help="output folder (replaced atomically)")
    p.add_argument(
        "--steps", type=int, default=_D.steps, help="optimizer steps (default %(default)s)"
    )
    p.add_argument(
        "--lr", type=float, default=_D.lr, help="sign-SGD step size (default %(default)s)"
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=_D.weight_decay,
        help="decoupled weight decay of the fitted rows (default %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=_D.batch_size,
        help="examples per step (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=_D.seed, help="batch order and ACT exploration")
    p.add_argument(
        "--eval-examples",
        type=int,
        default=_D.eval_examples,
        help="fitted examples the loss before/after is measured on (default %(default)s)",
    )
    opt.add_device(p, default=_D.device)
    opt.add_threads(p)
    opt.add_model_choice(p)
    opt.add_no_progress(p)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if it is not a folder written by `trm adapt`",
    )
    p.set_defaults(func=_cmd_adapt)


def _cmd_adapt(args: argparse.Namespace) -> int:
    from trm.model.build import parse_overrides
    from trm.outputs import check_output_path
    from trm.train.adapt import adapt, is_adapt_output

    check_output_path(
        args.out,
        kind="folder of adapted weights",
        recognise=is_adapt_output,
        inputs=[args.checkpoint, args.source_data, args.data],
        overwrite=args.overwrite,
    )
    config = AdaptConfig(
        steps=args.steps,
        lr=args.lr,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        seed=args.seed,
        eval_examples=args.eval_examples,
        device=args.device,
        threads=args.threads,
    )
    s = adapt(
        args.checkpoint,
        args.source_data,
        args.data,
        args.out,
        config,
        step=args.step,
        preset=args.arch,
        overrides=parse_overrides(args.arch_override),
        progress=not args.no_progress,
    )
    print(
        f"wrote {args.out}: {s['rows_fitted']} of {s['rows_total']} rows fitted "
        f"({s['rows_copied']} copied) in {s['steps']} steps on {s['fit_examples']} examples; "
        f"eval loss {s['loss_before']:.4f} -> {s['loss_after']:.4f} per example, exact "
        f"{100 * s['exact_before']:.1f} % -> {100 * s['exact_after']:.1f} %; "
        f"{s['wall_s']:.1f} s wall, {s['cpu_s']:.1f} s CPU on {s['device']}"
    )
    return 0
