"""llm_prepare: `trm llm prepare` with the experiment's ARC source and the model's tokenizer."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.data.arc_generated import DEFAULT_SUBSETS, PREFIX_NAME  # noqa: E402
from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
ds = dict(smk.params.dataset)
if ds["source"] == "generated":  # task files of the generate_arc_tasks rule, as prepare.py
    ds["input_prefix"] = str(Path(smk.input.tasks) / PREFIX_NAME)
    ds.setdefault("subsets", list(ds.get("generate", {}).get("tasks", DEFAULT_SUBSETS)))
    ds.setdefault("test_set", "evaluation")
cmd = trm("llm", "prepare", "--model", smk.params.model, "--out", smk.output.data)
cmd += to_flags("dataset", ds) + to_flags("llm.prepare", smk.params.prepare)
run_snakemake_job(smk, cmd)
