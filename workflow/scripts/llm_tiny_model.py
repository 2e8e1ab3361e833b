"""llm_tiny_model: `trm llm make-tiny-model` (a random tiny Llama + tokenizer for CPU smokes)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
cmd = trm(
    "llm", "make-tiny-model", "--out", smk.output.model, *to_flags("llm.tiny", smk.params.tiny)
)
run_snakemake_job(smk, cmd)
