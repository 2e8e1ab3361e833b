"""predict: one inference pass of `trm predict` over the dataset's test examples."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import checkpoint_path, limit_threads, trm  # noqa: E402

from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
opts = dict(smk.params.predict)
ckpt = checkpoint_path(smk.input.ckpt, smk.params.checkpoint_file)
cmd = trm(
    "predict", "--checkpoint", ckpt, "--data", smk.input.data, "--out", smk.output.predictions
)
if "batch_size" in opts:
    cmd += ["--batch-size", opts["batch_size"]]
if "device" in opts:
    cmd += ["--device", opts["device"]]
if "dtype" in opts:
    cmd += ["--dtype", opts["dtype"]]
cmd += ["--threads", smk.threads]
limit_threads(smk.threads)
meta = str(Path(smk.output.predictions).with_suffix(".meta.json"))
run_snakemake_job(smk, list(map(str, cmd)), extra_outputs=[meta])
