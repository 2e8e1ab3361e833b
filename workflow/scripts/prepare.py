"""prepare_{arc,sudoku,maze}, adapt_data: `trm prepare <kind>` with the dataset's settings."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run(smk, out=smk.output.data, limit=True)
