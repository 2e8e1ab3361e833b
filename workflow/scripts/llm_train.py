"""llm_train: `trm llm train` (LoRA/QLoRA) on the prepared records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import limit_threads, trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
cmd = trm("llm", "train", "--model", smk.params.model, "--data", smk.input.data)
cmd += ["--out", smk.output.run, *to_flags("llm", {"device": smk.params.device})]
cmd += to_flags("llm.train", smk.params.train)
limit_threads(smk.threads)
run_snakemake_job(smk, cmd)
