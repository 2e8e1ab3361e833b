"""llm_prepare: `trm llm prepare` with the experiment's ARC source and the model's tokenizer."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run(smk, model=smk.params.model, out=smk.output.data)
