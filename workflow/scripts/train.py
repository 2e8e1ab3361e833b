"""train: `trm train` on one device, or under torchrun when the experiment asks for N > 1 GPUs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run, torchrun  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
gpus = int(smk.params.gpus)
launcher = torchrun(gpus) if gpus > 1 else ()
inp, p = smk.input, smk.params
run(smk, data=inp.data, out=smk.output.run, overrides=p.overrides, launcher=launcher, limit=True)
