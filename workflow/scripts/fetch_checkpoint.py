"""fetch_checkpoint: `trm fetch-checkpoint` from the Hub, or from a local folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
cmd = trm("fetch-checkpoint", *to_flags("checkpoint", smk.params.checkpoint))
cmd += ["--out", smk.output.ckpt]
run_snakemake_job(smk, cmd)
