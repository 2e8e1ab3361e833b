"""score_compare: `trm score compare`, paper minus single mode over tasks (paired bootstrap)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
cmd = trm(
    "score",
    "compare",
    "--paper",
    Path(smk.input.paper).parent,
    "--single",
    Path(smk.input.single).parent,
    "--out",
    smk.output.compare,
)
cmd += to_flags("score", smk.params.score)
run_snakemake_job(smk, cmd)
