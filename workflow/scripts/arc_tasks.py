"""generate_arc_tasks: `trm prepare arc-tasks` with the dataset's `generate` settings."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
cmd = trm(
    "prepare", "arc-tasks", *to_flags("generate", smk.params.generate), "--out", smk.output.tasks
)
run_snakemake_job(smk, cmd)
