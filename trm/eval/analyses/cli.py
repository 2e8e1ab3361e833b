"""`trm analyse trajectory|compare|ensemble|sweep-grid`: argument parsing only (work in
trm.eval.analyses)."""

from __future__ import annotations

import argparse
import json

from trm import cli_options as opt


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser(
        "analyse",
        help="analyses of predictions: per-step trajectories and halting, variant comparisons",
    )
    kinds = top.add_subparsers(dest="analyse_kind", metavar="KIND", required=True)

    traj = kinds.add_parser(
        "trajectory",
        help="ARC pass@1/2 at every ACT step (paper and single mode) and the halting analysis",
        description="Reads a predictions file written by `trm predict --trajectory`; writes "
        "OUT/trajectory.csv (mode, step, pass@K with 95%% intervals, share halted) and "
        "OUT/halting.json (first step with q_halt > 0, accuracy had evaluation halted there, "
        "ACT steps saved).",
    )
    traj.add_argument("--data", required=True, help="prepared ARC dataset folder")
    traj.add_argument("--predictions", required=True, help="predictions.npz with per-step fields")
    traj.add_argument("--out", required=True, help="output folder")
    opt.add_bootstrap(traj)
    traj.set_defaults(func=_trajectory)

    cmp_ = kinds.add_parser(
        "compare",
        help="variants against a baseline (puzzle-ID ablation, checkpoint ensemble): paired "
        "bootstrap over tasks",
        description="Each NAME=DIR is an output folder of `trm score arc` on the same dataset.",
    )
    cmp_.add_argument("--baseline", required=True, metavar="NAME=DIR")
    cmp_.add_argument("--variant", required=True, action="append", metavar="NAME=DIR")
    cmp_.add_argument("--out", required=True, help="JSON file to write")
    opt.add_bootstrap(cmp_)
    cmp_.set_defaults(func=_compare)

    ens = kinds.add_parser(
        "ensemble",
        help="ARC checkpoint ensemble: the last K step_N of a run, each predicted, voted pooled",
        description="Writes OUT/step_<N>/{predictions.npz,scores/<mode>/}, "
        "OUT/pooled/scores/<mode>/ and OUT/compare_<mode>.json (pooled and every checkpoint "
        "against the last one, paired over tasks).",
    )
    opt.add_checkpoint(ens, help="training run folder with step_N files", step=False)
    ens.add_argument("--data", required=True, help="prepared ARC dataset folder")
    ens.add_argument("--out", required=True, help="output folder")
    ens.add_argument("--last", type=int, default=2, help="how many of the last step_N (default 2)")
    ens.add_argument("--batch-size", type=int, default=256)
    opt.add_device(ens)
    opt.add_threads(ens)
    opt.add_bootstrap(ens)
    ens.set_defaults(func=_ensemble)

    sg = kinds.add_parser(
        "sweep-grid",
        help="ARC: several runs (e.g. trained at num_aug 0 and 1000) x test-time votes, pass@2 "
        "with intervals and paired differences against the base run",
        description="Each NAME=PREDICTIONS is a predictions file on the test split of --data "
        "(the same test examples for every run). Writes OUT (JSON): per run and level K (the "
        "original view plus the first K augmented views of each task) pass@2 over tasks with its "
        "95%% interval, and the run minus --base at the same K (paired bootstrap over tasks).",
    )
    sg.add_argument("--data", required=True, help="prepared ARC dataset folder (its test split)")
    sg.add_argument("--run", required=True, action="append", metavar="NAME=PREDICTIONS")
    sg.add_argument("--label", action="append", metavar="NAME=TEXT", help="what a run is")
    sg.add_argument("--levels", required=True, help="comma-separated K, e.g. 0,1,4,16")
    sg.add_argument("--base", help="the run the others are compared with (default: the first)")
    sg.add_argument("--grid", default="", help="the grid's name (shown in the report)")
    sg.add_argument("--out", required=True, help="JSON file to write")
    opt.add_bootstrap(sg)
    sg.set_defaults(func=_sweep_grid)


def _trajectory(args: argparse.Namespace) -> int:
    from trm.eval.analyses.trajectory import analyse_trajectory, write_trajectory
    from trm.eval.scoring import check_n_boot

    check_n_boot(args.n_boot)
    rows, summary = analyse_trajectory(args.data, args.predictions, args.n_boot, args.seed)
    write_trajectory(rows, summary, args.out)
    for r in rows:
        print(
            f"{r['mode']:>6} step {r['step']:>3}: pass@1 {r['pass@1']:.4f}  pass@2 {r['pass@2']:.4f}"
        )
    print(json.dumps({k: v for k, v in summary.items() if "_ci_" not in k}))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from trm.eval.analyses.compare import compare_variants, parse_named

    (baseline,) = parse_named([args.baseline], "--baseline")
    variants = parse_named(args.variant, "--variant")
    out = compare_variants(baseline, variants, args.out, n_boot=args.n_boot, seed=args.seed)
    for name, entry in out["variants"].items():
        print(f"{name}: " + "  ".join(f"{k} {v:.4f}" for k, v in entry.items() if "_ci_" not in k))
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from trm.eval.analyses.ensemble import run_ensemble
    from trm.eval.scoring import check_n_boot

    check_n_boot(args.n_boot)
    out = run_ensemble(
        args.checkpoint,
        args.data,
        args.out,
        args.last,
        n_boot=args.n_boot,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
    )
    for mode, cmp in out.items():
        for name, entry in cmp["variants"].items():
            print(f"{mode} {name}: pass@1 {entry['pass@1']:.4f}  pass@2 {entry['pass@2']:.4f}")
    return 0


def _sweep_grid(args: argparse.Namespace) -> int:
    from trm.errors import UserError
    from trm.eval.analyses import sweep_grid as SG
    from trm.eval.compare_runs import parse_pairs
    from trm.eval.sweep import parse_levels

    runs = parse_pairs(args.run, "--run")
    labels = parse_pairs(args.label, "--label")
    unknown = sorted(set(labels) - set(runs))
    if unknown:
        raise UserError(f"--label names runs that are not given with --run: {unknown}")
    out = SG.sweep_grid(
        args.data,
        runs,
        parse_levels(args.levels),
        args.out,
        grid=args.grid,
        base=args.base,
        labels=labels,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    for row in out[SG.SG_ROWS]:
        cells = "  ".join(
            f"K={c[SG.CELL_LEVEL]}: {100 * c[SG.CELL_ACCURACY]:.1f} %" for c in row[SG.ROW_CELLS]
        )
        print(f"{row[SG.ROW_NAME]} ({out[SG.SG_METRIC]}): {cells}")
    return 0
