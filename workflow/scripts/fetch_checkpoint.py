"""fetch_checkpoint: `trm fetch-checkpoint` from the Hub, or from a local folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run(smk, out=smk.output.ckpt)
