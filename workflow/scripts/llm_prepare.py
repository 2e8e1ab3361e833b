"""llm_prepare: `trm llm prepare` with the experiment's ARC source and the model's tokenizer."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.llm.cli import flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
ds = dict(smk.params.dataset)
opts = {k: ds.get(k) for k in ("input_prefix", "subsets", "test_set", "max_tasks", "tasks")}
opts |= {"seed": ds.get("seed"), "num_aug": ds.get("num_aug")} | dict(smk.params.prepare)
cmd = trm("llm", "prepare", "--model", smk.params.model, "--source", ds["source"], "--out")
cmd += [smk.output.data, *flags(opts)]
run_snakemake_job(smk, cmd)
