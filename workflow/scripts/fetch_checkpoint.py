"""fetch_checkpoint: `trm fetch-checkpoint` from the Hub, or from a local folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
ck = dict(smk.params.checkpoint)
if "repo_id" in ck:
    cmd = trm("fetch-checkpoint", "--repo-id", ck["repo_id"])
    if ck.get("revision"):
        cmd += ["--revision", ck["revision"]]
    for pattern in ck.get("include", []):
        cmd += ["--include", pattern]
else:
    cmd = trm("fetch-checkpoint", "--path", ck["path"])
cmd += ["--out", smk.output.ckpt]
run_snakemake_job(smk, cmd)
