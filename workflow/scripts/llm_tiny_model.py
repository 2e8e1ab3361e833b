"""llm_tiny_model: `trm llm make-tiny-model` (a random tiny Llama + tokenizer for CPU smokes)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run(smk, out=smk.output.model)
