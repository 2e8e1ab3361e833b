"""bench: `trm bench`, latency/throughput/peak memory against batch size."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, limit_threads, trm  # noqa: E402

from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
opts = dict(smk.params.bench)
ckpt = checkpoint_path(smk.input.ckpt, smk.params.checkpoint_file)
cmd = trm(
    "bench",
    "--checkpoint",
    ckpt,
    "--data",
    smk.input.data,
    "--batch-sizes",
    ",".join(map(str, opts["batch_sizes"])),
    "--dtypes",
    ",".join(opts.get("dtypes", ["float32"])),
    "--out",
    smk.output.bench,
)
for key in ("device", "warmup", "repeats", "max_seconds"):
    if key in opts:
        cmd += ["--" + key.replace("_", "-"), opts[key]]
cmd += ["--threads", smk.threads]
limit_threads(smk.threads)
run_snakemake_job(smk, list(map(str, cmd)))
