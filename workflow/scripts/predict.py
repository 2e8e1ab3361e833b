"""predict: one inference pass of `trm predict` over the dataset's test examples."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, limit_threads, trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
ckpt = checkpoint_path(smk.input.ckpt, smk.params.checkpoint_file)
cmd = trm(
    "predict", "--checkpoint", ckpt, "--data", smk.input.data, "--out", smk.output.predictions
)
cmd += to_flags("predict", smk.params.predict) + ["--threads", smk.threads]
cmd += to_flags("analyses", smk.params.analyses)
cmd += ["--trajectory"] if smk.params.analyses.get("trajectory") else []
# predict.dataset: the test puzzles are mapped to the training dataset's identifiers by name
cmd += ["--puzzle-ids-from", smk.input.ids_from] if "ids_from" in smk.input.keys() else []
limit_threads(smk.threads)
meta = str(Path(smk.output.predictions).with_suffix(".meta.json"))
run_snakemake_job(smk, list(map(str, cmd)), extra_outputs=[meta])
