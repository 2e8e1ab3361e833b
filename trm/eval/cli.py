"""`trm predict`, `trm score arc|sudoku|maze|compare` and `trm sweep`: argument parsing only;
the work is done by trm.eval.predict, trm.eval.scoring and trm.eval.sweep."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

from trm import cli_options as opt
from trm.eval import schema as S


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_predict(subparsers)
    _register_sweep(subparsers)
    from trm.eval.analyses import cli as analyses_cli

    analyses_cli.register(subparsers)  # trm analyse trajectory|compare


def _register_predict(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="run eval-mode ACT on every test example of a dataset (sharded, resumable, torchrun)",
        description="Write predictions.npz (puzzle_identifiers, inputs, preds, q_halt_logits) for "
        "every test example of --data, plus <stem>.meta.json. Rerunning after an interruption "
        "resumes from the shards in <out>.shards/. Under torchrun the ranks split the shards.",
    )
    opt.add_checkpoint(p)
    p.add_argument("--data", required=True, help="prepared dataset folder (its test split is used)")
    p.add_argument("--out", required=True, help="predictions .npz to write")
    p.add_argument("--batch-size", type=int, default=256)
    opt.add_device(p)
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="forward dtype (auto: float32 on CPU, the checkpoint's config on GPU)",
    )
    p.add_argument("--max-examples", type=int, help="only the first N test examples (quick runs)")
    p.add_argument(
        "--shard-batches", type=int, default=16, help="batches per resumable shard (default 16)"
    )
    opt.add_model_choice(p)
    p.add_argument(
        "--resize-puzzle-emb",
        action="store_true",
        help="load a checkpoint whose puzzle-embedding table has another number of rows",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the recursion (GPU runs)")
    opt.add_threads(p)
    opt.add_no_progress(p)
    p.add_argument(
        "--trajectory",
        action="store_true",
        help="ARC: also store every ACT step's answer hash and q_halt logit (14 bytes/example/step)",
    )
    p.add_argument(
        "--halt-max-steps",
        type=int,
        help="ACT steps to run instead of the checkpoint's halt_max_steps (test-time depth)",
    )
    p.add_argument(
        "--puzzle-ids",
        default="true",
        choices=["true", "blank", "random", "mean"],
        help="puzzle identifiers fed to the model (ablation; default: the dataset's)",
    )
    p.add_argument(
        "--puzzle-id-seed", type=int, default=0, help="seed of --puzzle-ids random (default 0)"
    )
    p.add_argument(
        "--puzzle-ids-from",
        metavar="TRAIN_DATA",
        help="the dataset the checkpoint was trained on, when --data is another one (e.g. "
        "trained at num_aug 0, evaluated on augmented views): each test puzzle is fed "
        "TRAIN_DATA's identifier of the same name, else of its un-augmented task name",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if it is not a predictions file written by `trm predict`",
    )
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from trm.eval.predict import run_predict
    from trm.model.build import parse_overrides

    record = run_predict(
        args.checkpoint,
        args.data,
        args.out,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        max_examples=args.max_examples,
        shard_batches=args.shard_batches,
        step=args.step,
        preset=args.arch,
        overrides=parse_overrides(args.arch_override),
        resize_puzzle_emb=args.resize_puzzle_emb,
        progress=not args.no_progress,
        threads=args.threads,
        compile=args.compile,
        trajectory=args.trajectory,
        num_steps=args.halt_max_steps,
        puzzle_ids=args.puzzle_ids,
        puzzle_id_seed=args.puzzle_id_seed,
        puzzle_ids_from=args.puzzle_ids_from,
        overwrite=args.overwrite,
    )
    if record:
        print(
            f"wrote {args.out}: {record['num_examples']} examples, {record['computed_examples']} computed "
            f"in {record['seconds']:.1f} s on {record['device']} ({record['examples_per_s'] or 0:.1f} examples/s)"
        )
    return 0


def _register_sweep(subparsers: argparse._SubParsersAction) -> None:
    sweep = subparsers.add_parser(
        "sweep",
        help="ARC accuracy against the number of voting augmentations (no model run)",
        description=(
            "Level K keeps the votes of the un-augmented copy and the first K augmented copies "
            "of each task, in builder order. Writes a CSV: level, pass@1, pass@2 with 95%% "
            "intervals, mean and minimum effective votes, number of test inputs."
        ),
    )
    sweep.add_argument("--data", required=True, help="prepared ARC dataset folder")
    sweep.add_argument("--predictions", required=True, help="predictions.npz of its test split")
    sweep.add_argument(
        "--levels", default="0,1,4,16,64,256,576,1000", help="comma-separated K values"
    )
    sweep.add_argument("--out", required=True, help="CSV file to write")
    sweep.add_argument(
        "--draws", type=int, default=0, help="also average over R random choices of K copies"
    )
    opt.add_bootstrap(sweep)
    sweep.add_argument("--quiet", action="store_true", help="no progress bars")
    sweep.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if trm did not write it",
    )
    sweep.set_defaults(func=_sweep)


def _guard_out(
    args: argparse.Namespace,
    kind: str,
    recognise: Callable[[Path], bool],
    inputs: Iterable[str | list[str]],
) -> None:
    """Refuse an --out that is an input, or an existing file/folder trm did not write."""
    from trm.outputs import check_output_path

    paths = [p for i in inputs for p in (i if isinstance(i, list) else [i])]  # nargs="+" lists
    check_output_path(
        args.out, kind=kind, recognise=recognise, inputs=paths, overwrite=args.overwrite
    )


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline()
    except (OSError, UnicodeDecodeError):
        return ""


def _is_sweep_csv(path: Path) -> bool:
    return path.is_file() and _first_line(path).startswith(S.SWEEP_LEVEL + ",")


def _sweep(args: argparse.Namespace) -> int:
    from trm.errors import UserError
    from trm.eval.sweep import parse_levels, run_sweep, write_sweep_csv

    _guard_out(args, "sweep CSV", _is_sweep_csv, [args.data, args.predictions])

    levels = parse_levels(args.levels)
    if args.draws < 0:
        raise UserError(f"--draws must be >= 0, got {args.draws}")
    rows = run_sweep(
        args.data,
        args.predictions,
        levels,
        draws=args.draws,
        boot=opt.bootstrap(args),
        progress=not args.quiet,
    )
    write_sweep_csv(rows, args.out)
    for r in rows:
        print(
            f"level {r['level']:>5}: pass@1 {r['pass@1']:.4f}  pass@2 {r['pass@2']:.4f}  "
            f"mean votes {r['mean_votes']:.1f}"
        )
    return 0
