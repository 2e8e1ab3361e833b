"""llm_score: `trm llm score`, TRM's ARC metric with intervals, plus the run's cost."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
out_dir = str(Path(smk.output.metrics).parent)
train_summary = str(Path(smk.input.run) / "train_summary.json")
cmd = trm("llm", "score", "--data", smk.input.data, "--predictions", smk.input.predictions)
cmd += ["--out", out_dir, *to_flags("score", smk.params.score)]
cmd += ["--cost", train_summary, smk.input.summary]
run_snakemake_job(smk, cmd, extra_outputs=[out_dir])
