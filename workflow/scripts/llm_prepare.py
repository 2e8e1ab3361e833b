"""llm_prepare: `trm llm prepare` with the experiment's ARC source and the model's tokenizer."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm, with_generated_source  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
ds = with_generated_source(smk.params.dataset, smk.input.get("tasks"))
cmd = trm("llm", "prepare", "--model", smk.params.model, "--out", smk.output.data)
cmd += to_flags("dataset", ds) + to_flags("llm.prepare", smk.params.prepare)
run_snakemake_job(smk, cmd)
