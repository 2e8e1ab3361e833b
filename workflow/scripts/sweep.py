"""sweep: `trm sweep`, accuracy against the number of augmented views, from saved predictions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run(smk, data=smk.input.data, predictions=smk.input.predictions, out=smk.output.csv)
