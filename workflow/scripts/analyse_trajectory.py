"""analyse_trajectory: `trm analyse trajectory`, per-step pass@K and halting."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import folder, run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp = smk.input
run(smk, data=inp.data, predictions=inp.predictions, out=folder(smk.output.trajectory))
