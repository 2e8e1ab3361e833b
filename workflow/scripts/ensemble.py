"""ensemble: `trm analyse ensemble`, the last step_N of the training run voted pooled."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run(
    smk,
    checkpoint=smk.input.ckpt,
    data=smk.input.data,
    out=smk.output.folder,
    threads=smk.threads,
    limit=True,
)
