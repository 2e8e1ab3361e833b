"""`trm analyse trajectory|ensemble`: argument parsing only (work in trm.eval.analyses).
Comparisons of score folders and the sweep grid are `trm compare runs|sweep`."""

from __future__ import annotations

import argparse
import json

from trm import cli_options as opt


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser(
        "analyse",
        help="analyses of predictions: per-step trajectories and halting, checkpoint ensembles",
    )
    kinds = top.add_subparsers(dest="analyse_kind", metavar="KIND", required=True)

    traj = kinds.add_parser(
        "trajectory",
        help="ARC pass@1/2 at every ACT step (paper and single mode) and the halting analysis",
        description="Reads a predictions file written by `trm predict --trajectory`; writes "
        "OUT/trajectory.csv (mode, step, pass@K with 95%% intervals, share halted), "
        "OUT/halting.json (first step with q_halt > 0, ACT steps saved) and "
        "OUT/halted_vs_last.json (accuracy had evaluation halted there minus the last step's, "
        "paired over tasks).",
    )
    traj.add_argument("--data", required=True, help="prepared ARC dataset folder")
    traj.add_argument("--predictions", required=True, help="predictions.npz with per-step fields")
    traj.add_argument("--out", required=True, help="output folder")
    opt.add_bootstrap(traj)
    traj.set_defaults(func=_trajectory)

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


def _trajectory(args: argparse.Namespace) -> int:
    from trm.eval.analyses.trajectory import analyse_trajectory, write_trajectory

    rows, summary, comparisons = analyse_trajectory(
        args.data, args.predictions, boot=opt.bootstrap(args)
    )
    write_trajectory(rows, summary, comparisons, args.out)
    for r in rows:
        print(
            f"{r['mode']:>6} step {r['step']:>3}: pass@1 {r['pass@1']:.4f}  pass@2 {r['pass@2']:.4f}"
        )
    print(json.dumps({k: v for k, v in summary.items() if "_ci_" not in k}))
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from trm.eval.analyses.ensemble import run_ensemble

    out = run_ensemble(
        args.checkpoint,
        args.data,
        args.out,
        args.last,
        boot=opt.bootstrap(args),
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
    )
    for mode, records in out.items():
        for r in records:
            print(
                f"{mode} {r['a']} {r['metric']}: {r['a_value']:.4f} ({r['diff']:+.4f} vs {r['b']})"
            )
    return 0
