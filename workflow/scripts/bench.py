"""bench: `trm bench`, latency/throughput/peak memory against batch size."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, limit_threads, trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
# The workflow benchmarks float32 unless the experiment lists dtypes (trm bench alone: both).
opts = {"dtypes": ["float32"], **smk.params.bench}
ckpt = checkpoint_path(smk.input.ckpt, smk.params.checkpoint_file)
cmd = trm("bench", "--checkpoint", ckpt, "--data", smk.input.data, "--out", smk.output.bench)
cmd += to_flags("bench", opts) + ["--threads", smk.threads]
limit_threads(smk.threads)
run_snakemake_job(smk, list(map(str, cmd)))
