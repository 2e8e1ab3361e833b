"""sweep: `trm sweep`, accuracy against the number of augmented views, from saved predictions
(acc_vs_aug.csv: pass@K with <K>_ci_low / _ci_high / _ci_method per level)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
cmd = trm("sweep", "--data", smk.input.data, "--predictions", smk.input.predictions)
cmd += ["--out", smk.output.csv, *to_flags("sweep", smk.params.sweep)]
run_snakemake_job(smk, cmd)
