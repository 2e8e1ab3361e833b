"""score: `trm score <kind>` in paper (voting) or single mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
out_dir = str(Path(smk.output.metrics).parent)
cmd = trm(
    "score", smk.params.kind, "--data", smk.input.data, "--predictions", smk.input.predictions,
    "--out", out_dir, "--mode", smk.wildcards.mode,
)
run_snakemake_job(smk, cmd, extra_outputs=[out_dir])
