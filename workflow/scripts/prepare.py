"""prepare_{arc,sudoku,maze}: `trm prepare <kind>` with the dataset's settings."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import limit_threads, trm  # noqa: E402

from trm.data.arc_generated import DEFAULT_SUBSETS, PREFIX_NAME  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
ds = dict(smk.params.dataset)
cmd = trm("prepare", ds["kind"])
source = ds["source"]
if source == "files":
    cmd += ["--input-prefix", ds["input_prefix"]]
elif source == "generated":  # task files written by the generate_arc_tasks rule
    cmd += ["--input-prefix", str(Path(smk.input.tasks) / PREFIX_NAME)]
    ds.setdefault("subsets", list(ds.get("generate", {}).get("tasks", DEFAULT_SUBSETS)))
    ds.setdefault("test_set", "evaluation")
else:
    cmd += ["--source", source]
flags = {
    "subsets": "--subsets",
    "test_set": "--test-set",
    "max_tasks": "--max-tasks",
    "num_aug": "--num-aug",
    "seed": "--seed",
    "size": "--size",
    "num": "--num",
    "subsample": "--subsample",
    "splits": "--splits",
    "num_test": "--num-test",
    "test_subsample": "--test-subsample",
    "test_set2": "--test-set2",
    "tasks": "--tasks",
    "min_rating": "--min-rating",
}
for key, flag in flags.items():
    if key in ds:
        value = ds[key]
        cmd += [flag, *map(str, value)] if isinstance(value, list) else [flag, str(value)]
cmd += ["--out", smk.output.data]
limit_threads(smk.threads)
run_snakemake_job(smk, cmd)
