"""train: `trm train` on one device, or under torchrun when the experiment asks for N > 1 GPUs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import limit_threads, trm  # noqa: E402

from trm.jobargs import hydra_overrides  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
gpus = int(smk.params.gpus)
args = ["train", "--data", smk.input.data, "--out", smk.output.run]
args += hydra_overrides("model", smk.params.model) + hydra_overrides("train", smk.params.train)
if gpus > 1:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={gpus}",
    ]
    cmd += ["-m", "trm.cli", *map(str, args)]
else:
    cmd = trm(*args)
limit_threads(smk.threads)
run_snakemake_job(smk, cmd)
