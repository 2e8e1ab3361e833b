"""prepare_{arc,sudoku,maze}: `trm prepare <kind>` with the dataset's settings."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import limit_threads, trm, with_generated_source  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
ds = with_generated_source(smk.params.dataset, smk.input.get("tasks"))
cmd = trm("prepare", ds["kind"], *to_flags("dataset", ds))
cmd += ["--out", smk.output.data]
limit_threads(smk.threads)
run_snakemake_job(smk, cmd)
