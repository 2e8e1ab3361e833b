"""The comparisons (score_compare, score_grid, sweep_grid, compare_ids, compare_adapt,
llm_compare): `trm compare runs|sweep`, each run paired with the base over the same units.
params.runs = {name: score folder or predictions}; params.compare = the command's other names."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
p = smk.params
run(smk, run=p.runs, data=smk.input.get("data"), out=smk.output.compare, **p.compare)
