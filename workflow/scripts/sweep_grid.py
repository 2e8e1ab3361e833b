"""sweep_grid: `trm analyse sweep-grid`, a grid's variants x test votes (pass@2, paired)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
p = smk.params
cmd = trm("analyse", "sweep-grid", "--data", smk.input.data, "--grid", smk.wildcards.grid)
cmd += ["--base", p.base, "--levels", ",".join(map(str, p.levels)), "--out", smk.output.table]
for variant, predictions in p.runs.items():
    cmd += ["--run", f"{variant}={predictions}", "--label", f"{variant}={p.labels[variant]}"]
cmd += to_flags("score", p.score)
run_snakemake_job(smk, cmd)
