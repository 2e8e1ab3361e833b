"""`trm score arc|sudoku|maze|compare` and `trm sweep`: thin glue over trm.vote, trm.stats, trm.sweep.

Every command writes into a temporary folder or file beside its output and renames it when
complete, so a failure leaves no partial output.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from trm.stats import DEFAULT_N_BOOT, DEFAULT_SEED

MODES = ("paper", "single")


def register(subparsers: argparse._SubParsersAction) -> None:
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
    _common(arc)
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
    cmp_.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT)
    cmp_.add_argument("--seed", type=int, default=DEFAULT_SEED)
    cmp_.set_defaults(func=_compare)

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
    sweep.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT)
    sweep.add_argument("--seed", type=int, default=DEFAULT_SEED)
    sweep.add_argument("--quiet", action="store_true", help="no progress bars")
    sweep.set_defaults(func=_sweep)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="prepared dataset folder")
    p.add_argument(
        "--predictions", required=True, help="predictions.npz (one row per test example)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--n-boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap resamples (default 10000)"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _check_boot(n_boot: int) -> None:
    if n_boot < 100:
        raise ValueError(f"--n-boot must be at least 100, got {n_boot}")


def _score_arc(args: argparse.Namespace) -> int:
    from trm import vote as V
    from trm.utils import atomic_dir

    _check_boot(args.n_boot)
    pp = V.process_predictions(args.data, args.predictions, progress=not args.quiet)
    res = V.vote(pp, V.mode_rows(pp, args.mode))
    metrics = V.metrics_with_intervals(res, n_boot=args.n_boot, seed=args.seed)
    metrics["mode"] = args.mode
    votes = V.effective_votes_summary(res)
    metrics["effective_votes_mean"] = votes["mean"]
    metrics["effective_votes_min"] = votes["min"]
    with atomic_dir(args.out) as tmp:
        _write_json(tmp / "metrics.json", metrics, indent=1)
        with open(tmp / "submission.json", "w") as f:
            json.dump(V.submission(pp, res), f)
        with open(tmp / "per_example.jsonl", "w") as f:
            for rec in V.per_example_records(pp, res):
                f.write(json.dumps(rec) + "\n")
        _write_csv(tmp / "per_input.csv", V.per_input_table(res))
        _write_json(tmp / "votes.json", votes, indent=1)
    print(
        json.dumps(
            {k: v for k, v in metrics.items() if k.startswith("ARC/pass@") and "_ci" not in k}
        )
    )
    return 0


def _score_grid(args: argparse.Namespace) -> int:
    from trm.stats import bootstrap_ci
    from trm.utils import atomic_dir
    from trm.vote import grid_accuracy

    _check_boot(args.n_boot)
    acc = grid_accuracy(args.data, args.predictions)
    if len(acc.exact) == 0:
        raise ValueError(f"{args.data}: the test split has no examples")
    name = args.task_name
    metrics = {
        f"{name}/exact_accuracy": float(acc.exact.mean()),
        f"{name}/exact_accuracy_ci95": list(
            bootstrap_ci(acc.exact, n_boot=args.n_boot, seed=args.seed)
        ),
        f"{name}/cell_accuracy": float(acc.cell_fraction.mean()),
        f"{name}/cell_accuracy_ci95": list(
            bootstrap_ci(acc.cell_fraction, n_boot=args.n_boot, seed=args.seed)
        ),
        "n_examples": int(len(acc.exact)),
        "n_cells_scored": int(acc.cells_scored.sum()),
    }
    with atomic_dir(args.out) as tmp:
        _write_json(tmp / "metrics.json", metrics, indent=1)
        with open(tmp / "per_example.csv", "w") as f:
            f.write("row,exact,cells_right,cells_scored\n")
            for i, (e, r, s) in enumerate(
                zip(acc.exact, acc.cells_right, acc.cells_scored, strict=True)
            ):
                f.write(f"{i},{int(e)},{int(r)},{int(s)}\n")
    print(json.dumps({k: v for k, v in metrics.items() if not k.endswith("_ci95")}))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from trm.stats import paired_bootstrap_diff
    from trm.utils import write_json

    _check_boot(args.n_boot)
    paper = _task_pass(Path(args.paper) / "per_input.csv")
    single = _task_pass(Path(args.single) / "per_input.csv")
    if list(paper) != list(single):
        raise ValueError(
            f"{args.paper} and {args.single} score different task lists: not the same dataset"
        )
    out: dict = {"n_tasks": len(paper)}
    for k in ("pass@1", "pass@2"):
        a = [paper[t][k] for t in paper]
        b = [single[t][k] for t in single]
        out[f"paper_minus_single/{k}"] = paired_bootstrap_diff(
            a, b, n_boot=args.n_boot, seed=args.seed
        )
    write_json(args.out, out)
    print(json.dumps({k: v["diff"] for k, v in out.items() if isinstance(v, dict)}))
    return 0


def _task_pass(path: Path) -> dict[str, dict[str, float]]:
    """Per task: fraction of its test inputs passed @1 and @2 (from per_input.csv)."""
    if not path.exists():
        raise FileNotFoundError(f"per-input results not found: {path} (run `trm score arc` first)")
    sums: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            try:
                t = row["task"]
                vals = {k: float(row[k]) for k in ("pass@1", "pass@2")}
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{path}: line {i + 2}: missing or bad field ({e})") from e
            acc = sums.setdefault(t, {"pass@1": 0.0, "pass@2": 0.0})
            for k, v in vals.items():
                acc[k] += v
            counts[t] = counts.get(t, 0) + 1
    return {t: {k: v / counts[t] for k, v in s.items()} for t, s in sums.items()}


def _sweep(args: argparse.Namespace) -> int:
    from trm.sweep import parse_levels, run_sweep, write_sweep_csv

    levels = parse_levels(args.levels)
    if args.draws < 0:
        raise ValueError(f"--draws must be >= 0, got {args.draws}")
    _check_boot(args.n_boot)
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
            f"level {r['level']:>5}: pass@1 {r['pass@1']:.4f}  pass@2 {r['pass@2']:.4f}  mean votes {r['mean_votes']:.1f}"
        )
    return 0


def _write_json(path: Path, obj: object, indent: int | None = None) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        if not rows:
            return
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
