"""adapt: `trm adapt`, the checkpoint's embeddings fitted to the held-out tasks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp = smk.input
ckpt = checkpoint_path(inp.ckpt, smk.params.checkpoint_file)
run(
    smk,
    checkpoint=ckpt,
    source_data=inp.source,
    data=inp.data,
    out=smk.output.model,
    threads=smk.threads,
    limit=True,
)
