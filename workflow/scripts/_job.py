"""Shared by the adapters: the `trm` command line of the Python running this script."""

import os
import sys
from pathlib import Path

# The checkout holding this workflow: its trm/ is the code every job runs (also inside a conda
# environment made from envs/trm.yaml, which does not install the package).
REPO_ROOT = Path(__file__).resolve().parents[2]
if (REPO_ROOT / "trm" / "__init__.py").exists():
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
    )


def trm(*args: object) -> list[str]:
    return [sys.executable, "-m", "trm.cli", *map(str, args)]


def with_generated_source(ds: dict, tasks: str | None) -> dict:
    """A dataset section as the prepare commands read it: a `source: generated` dataset reads
    the generate_arc_tasks output (job input `tasks`) as Kaggle files, with its default subsets."""
    from trm.data.arc_generated import DEFAULT_SUBSETS, PREFIX_NAME

    ds = dict(ds)
    if ds["source"] == "generated":
        ds["input_prefix"] = str(Path(tasks) / PREFIX_NAME)
        ds.setdefault("subsets", list(ds.get("generate", {}).get("tasks", DEFAULT_SUBSETS)))
        ds.setdefault("test_set", "evaluation")
    return ds


def limit_threads(threads: int) -> None:
    # Jobs share the machine: keep torch/BLAS to the threads Snakemake gave this job.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(max(1, int(threads)))


def checkpoint_path(folder: str, file: str | None) -> str:
    """The weights to load: the configured file of a fetched checkpoint, else the last step_N."""
    from trm.model.checkpoint import find_weights

    return str(Path(folder) / file) if file else str(find_weights(folder))
