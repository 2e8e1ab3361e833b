"""prepare_{arc,sudoku,maze}: `trm prepare <kind>` with the dataset's settings."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import limit_threads, trm  # noqa: E402

from trm.data.arc_generated import DEFAULT_SUBSETS, PREFIX_NAME  # noqa: E402
from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
ds = dict(smk.params.dataset)
if ds["source"] == "generated":  # task files written by the generate_arc_tasks rule
    ds["input_prefix"] = str(Path(smk.input.tasks) / PREFIX_NAME)
    ds.setdefault("subsets", list(ds.get("generate", {}).get("tasks", DEFAULT_SUBSETS)))
    ds.setdefault("test_set", "evaluation")
cmd = trm("prepare", ds["kind"], *to_flags("dataset", ds))
cmd += ["--out", smk.output.data]
limit_threads(smk.threads)
run_snakemake_job(smk, cmd)
