"""llm_predict: `trm llm predict`, greedy decoding with the trained adapter."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import limit_threads, trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
cmd = trm("llm", "predict", "--model", smk.params.model, "--data", smk.input.data)
cmd += ["--adapter", str(Path(smk.input.run) / "adapter"), "--out", smk.output.predictions]
cmd += to_flags("predict", smk.params.predict)
cmd += to_flags("llm.train", {"load_in_4bit": smk.params.load_in_4bit})
limit_threads(smk.threads)
run_snakemake_job(smk, cmd)
