"""llm_score: `trm llm score`, TRM's ARC metric with intervals, plus the run's cost."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import folder, run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp = smk.input
cost = [str(Path(inp.run) / "train_summary.json"), inp.summary]
run(smk, data=inp.data, predictions=inp.predictions, out=folder(smk.output.metrics), cost=cost)
