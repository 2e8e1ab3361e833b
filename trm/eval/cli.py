"""`trm predict`, `trm score arc|sudoku|maze|compare` and `trm sweep`: argument parsing only;
the work is done by trm.eval.predict, trm.eval.scoring and trm.eval.sweep."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from trm import cli_options as opt
from trm.eval import schema as S
from trm.eval.scoring import MODES


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_predict(subparsers)
    _register_score(subparsers)
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


def _register_score(subparsers: argparse._SubParsersAction) -> None:
    score = subparsers.add_parser(
        "score",
        help="score predictions: ARC voting and pass@K, Sudoku/Maze accuracy, mode comparison",
        description="Score a predictions.npz against a prepared dataset.",
    )
    kinds = score.add_subparsers(dest="score_kind", metavar="KIND", required=True)

    arc = kinds.add_parser(
        "arc",
        help="ARC: augmentation voting, pass@K, submission.json, per_example.jsonl",
        description=(
            "Reference ARC voting. --mode paper lets every augmented copy vote; --mode single "
            "keeps only the un-augmented copy of each test input (same predictions, same "
            "learned puzzle embeddings)."
        ),
    )
    _common(arc, pooled=True)
    arc.add_argument(
        "--mode", choices=MODES, default="paper", help="which copies vote (default: paper)"
    )
    arc.set_defaults(func=_score_arc)

    for kind in ("sudoku", "maze"):
        p = kinds.add_parser(
            kind,
            help=f"{kind.capitalize()}: exact (whole grid) and cell accuracy with 95%% intervals",
        )
        _common(p)
        p.set_defaults(func=_score_grid, task_name=kind.capitalize())

    cmp_ = kinds.add_parser(
        "compare",
        help="paired bootstrap of paper minus single mode over tasks",
        description="Reads per_input.csv from two `trm score arc` outputs of the same predictions.",
    )
    cmp_.add_argument(
        "--paper", required=True, help="output folder of `trm score arc --mode paper`"
    )
    cmp_.add_argument(
        "--single", required=True, help="output folder of `trm score arc --mode single`"
    )
    cmp_.add_argument("--out", required=True, help="JSON file to write")
    opt.add_bootstrap(cmp_)
    cmp_.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if trm did not write it",
    )
    cmp_.set_defaults(func=_compare)

    runs = kinds.add_parser(
        "compare-runs",
        help="an ablation grid: each run's accuracy and its paired difference from the base run",
        description="Reads the `trm score` outputs (paper mode) of runs on the same test set "
        "and writes one JSON table: accuracy with 95%% interval and n per run, and the paired "
        "bootstrap difference from the base run (examples for Sudoku/Maze, tasks for ARC).",
    )
    runs.add_argument("--kind", required=True, choices=("arc", "sudoku", "maze"))
    runs.add_argument(
        "--run",
        action="append",
        required=True,
        metavar="NAME=SCORE_DIR",
        help="a run and its score folder; repeat, the first is the base unless --base",
    )
    runs.add_argument("--base", help="the run the others are compared with")
    runs.add_argument("--changes", action="append", metavar="NAME=TEXT", help="what NAME changes")
    runs.add_argument(
        "--paper", action="append", metavar="NAME=PERCENT", help="the paper's figure for NAME"
    )
    runs.add_argument("--grid", default="", help="the grid's name (recorded in the output)")
    runs.add_argument("--out", required=True, help="JSON file to write")
    opt.add_bootstrap(runs)
    runs.set_defaults(func=_compare_runs)


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


def _common(p: argparse.ArgumentParser, pooled: bool = False) -> None:
    p.add_argument("--data", required=True, help="prepared dataset folder")
    p.add_argument(
        "--predictions",
        required=True,
        nargs="+" if pooled else None,
        help="predictions.npz (one row per test example)"
        + ("; several (e.g. one per checkpoint) vote pooled" if pooled else ""),
    )
    p.add_argument("--out", required=True, help="output folder")
    opt.add_bootstrap(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if trm did not write it",
    )


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


def _is_score_folder(path: Path) -> bool:
    return path.is_dir() and (path / "metrics.json").is_file()


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline()
    except (OSError, UnicodeDecodeError):
        return ""


def _is_sweep_csv(path: Path) -> bool:
    return path.is_file() and _first_line(path).startswith(S.SWEEP_LEVEL + ",")


def _is_compare_json(path: Path) -> bool:
    try:
        return path.is_file() and S.COMPARE_N_TASKS in json.loads(path.read_text())
    except (OSError, ValueError, TypeError):
        return False


def _score_arc(args: argparse.Namespace) -> int:
    from trm.eval.scoring import score_arc

    _guard_out(args, "score folder", _is_score_folder, [args.data, args.predictions])

    metrics = score_arc(
        args.data,
        args.predictions,
        args.out,
        mode=args.mode,
        n_boot=args.n_boot,
        seed=args.seed,
        progress=not args.quiet,
    )
    print(json.dumps({S.arc_pass_key(k): metrics[S.arc_pass_key(k)] for k in S.PASS_KS}))
    return 0


def _score_grid(args: argparse.Namespace) -> int:
    from trm.eval.scoring import score_grid

    _guard_out(args, "score folder", _is_score_folder, [args.data, args.predictions])

    metrics = score_grid(
        args.data, args.predictions, args.out, args.task_name, n_boot=args.n_boot, seed=args.seed
    )
    print(json.dumps({k: v for k, v in metrics.items() if "_ci_" not in k}))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from trm.eval.scoring import compare_modes

    _guard_out(args, "mode comparison JSON", _is_compare_json, [args.paper, args.single])

    out = compare_modes(args.paper, args.single, args.out, n_boot=args.n_boot, seed=args.seed)
    print(json.dumps({S.compare_diff_key(k): out[S.compare_diff_key(k)] for k in S.SWEEP_KS}))
    return 0


def _compare_runs(args: argparse.Namespace) -> int:
    from trm.errors import UserError
    from trm.eval import compare_runs as C

    paper = {}
    for name, value in C.parse_pairs(args.paper, "--paper").items():
        try:
            paper[name] = float(value)
        except ValueError:
            raise UserError(f"--paper {name}={value}: not a number") from None
    out = C.compare_runs(
        args.kind,
        C.parse_pairs(args.run, "--run"),
        args.out,
        grid=args.grid,
        base=args.base,
        changes=C.parse_pairs(args.changes, "--changes"),
        paper=paper,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    for row in out[C.GRID_ROWS]:
        print(
            f"{row[C.ROW_VARIANT]:>20}: {100 * row[C.ROW_ACCURACY]:6.2f} % "
            f"(n {row[C.ROW_N]}), vs base {100 * row[C.ROW_DIFF]:+6.2f} points"
        )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from trm.errors import UserError
    from trm.eval.scoring import check_n_boot
    from trm.eval.sweep import parse_levels, run_sweep, write_sweep_csv

    _guard_out(args, "sweep CSV", _is_sweep_csv, [args.data, args.predictions])

    levels = parse_levels(args.levels)
    if args.draws < 0:
        raise UserError(f"--draws must be >= 0, got {args.draws}")
    check_n_boot(args.n_boot)
    rows = run_sweep(
        args.data,
        args.predictions,
        levels,
        draws=args.draws,
        seed=args.seed,
        n_boot=args.n_boot,
        progress=not args.quiet,
    )
    write_sweep_csv(rows, args.out)
    for r in rows:
        print(
            f"level {r['level']:>5}: pass@1 {r['pass@1']:.4f}  pass@2 {r['pass@2']:.4f}  "
            f"mean votes {r['mean_votes']:.1f}"
        )
    return 0
