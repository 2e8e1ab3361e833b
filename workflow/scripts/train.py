"""train: `trm train` on one device, or under torchrun when the experiment asks for N > 1 GPUs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import limit_threads, trm  # noqa: E402

from trm.provenance import run_snakemake_job  # noqa: E402


def hydra_value(v: object) -> str:
    """A YAML value in Hydra's override syntax (null, true/false, [a,b]; Python's None is not)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list | tuple):
        return "[" + ",".join(hydra_value(x) for x in v) + "]"
    return str(v)


def overrides(group: str, settings: dict) -> list[str]:
    """{preset: tiny, hidden_size: 64} -> ['model=tiny', 'model.hidden_size=64']."""
    out = [f"{group}={settings['preset']}"] if "preset" in settings else []
    return out + [f"{group}.{k}={hydra_value(v)}" for k, v in settings.items() if k != "preset"]


smk = snakemake  # noqa: F821 (injected by Snakemake)
gpus = int(smk.params.gpus)
args = ["train", "--data", smk.input.data, "--out", smk.output.run]
args += overrides("model", dict(smk.params.model)) + overrides("train", dict(smk.params.train))
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
