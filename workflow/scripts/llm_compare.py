"""llm_compare: `trm llm compare`, TRM (paper mode) minus the LLM over the same tasks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
cmd = trm(
    "llm", "compare", "--trm", Path(smk.input.trm).parent, "--llm", Path(smk.input.llm).parent
)
cmd += ["--out", smk.output.compare, *to_flags("score", smk.params.score)]
run_snakemake_job(smk, cmd)
