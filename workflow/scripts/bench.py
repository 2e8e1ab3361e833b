"""bench: `trm bench`, latency/throughput/peak memory against batch size."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp = smk.input
ckpt = checkpoint_path(inp.ckpt, smk.params.checkpoint_file)
run(smk, checkpoint=ckpt, data=inp.data, out=smk.output.bench, threads=smk.threads, limit=True)
