"""llm_train: `trm llm train` (LoRA/QLoRA) on the prepared records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run(smk, model=smk.params.model, data=smk.input.data, out=smk.output.run, limit=True)
