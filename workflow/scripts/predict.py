"""predict, predict_ids, predict_adapt: one inference pass of `trm predict`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, run  # noqa: E402

from trm.workflow.paths import meta_of  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp, out, p = smk.input, smk.output, smk.params
run(
    smk,
    checkpoint=checkpoint_path(inp.ckpt, p.checkpoint_file),
    data=inp.data,
    out=out.predictions,
    puzzle_ids=p.get("puzzle_ids"),  # the ID ablation and the adapt fits
    puzzle_ids_from=inp.get("ids_from"),  # predict.dataset: identifiers mapped by name
    extra_outputs=[meta_of(out.predictions)],
    threads=smk.threads,
    limit=True,
)
