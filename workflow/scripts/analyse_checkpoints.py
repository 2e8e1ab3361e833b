"""analyse_checkpoints: `trm analyse checkpoints`, every kept step_N predicted and scored."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, run  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run(
    smk,
    checkpoint=checkpoint_path(smk.input.ckpt, smk.params.checkpoint_file),
    data=smk.input.data,
    out=smk.output.folder,
    kind=smk.params.kind,
    threads=smk.threads,
    limit=True,
)
