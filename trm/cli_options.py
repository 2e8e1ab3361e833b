"""Options several `trm` commands share, declared once: the same flag has the same default and
help in `trm predict`, `trm adapt`, `trm bench`, `trm score`, `trm sweep`, `trm analyse` and
`trm llm`."""

from __future__ import annotations

import argparse
import dataclasses

from trm.eval.stats import DEFAULT_N_BOOT, DEFAULT_SEED, Bootstrap

CHECKPOINT_HELP = "step_N file, run folder or fetched checkpoint folder"


def add_checkpoint(
    p: argparse.ArgumentParser, help: str = CHECKPOINT_HELP, step: bool = True
) -> None:
    """--checkpoint (required) and, for folders of step_N files, --step."""
    p.add_argument("--checkpoint", required=True, help=help)
    if step:
        p.add_argument("--step", type=int, help="which step_N of a folder (default: the highest)")


def add_model_choice(p: argparse.ArgumentParser) -> None:
    """--arch and --arch-override: the model when the checkpoint does not say (trm.model.build)."""
    p.add_argument(
        "--arch", help="model preset when the checkpoint has no all_config.yaml (tiny, paper-arc)"
    )
    p.add_argument(
        "--arch-override",
        action="append",
        metavar="KEY=VALUE",
        help="override a model setting (repeatable)",
    )


def add_device(p: argparse.ArgumentParser, default: str = "auto") -> None:
    p.add_argument("--device", default=default, help="auto|cpu|cuda (default %(default)s)")


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")


def add_no_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def bootstrap(args: argparse.Namespace) -> Bootstrap:
    """The Bootstrap of --n-boot and --seed, checked by its declaration (trm.eval.stats)."""
    from trm.settings import check

    boot = Bootstrap(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Bootstrap)})
    check(boot)
    return boot


def add_bootstrap(p: argparse.ArgumentParser, n_boot: bool = True) -> None:
    """--n-boot and --seed of the bootstrap intervals (trm.eval.stats)."""
    if n_boot:
        p.add_argument(
            "--n-boot",
            type=int,
            default=DEFAULT_N_BOOT,
            help="bootstrap resamples (default %(default)s)",
        )
    p.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed (default %(default)s)"
    )
