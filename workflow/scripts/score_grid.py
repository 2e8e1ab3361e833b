"""score_grid: `trm score compare-runs`, one ablation grid's table (paired against the base)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
p = smk.params
cmd = trm("score", "compare-runs", "--kind", p.kind, "--grid", smk.wildcards.grid)
cmd += ["--base", p.base, "--out", smk.output.grid]
for variant, folder in p.runs.items():
    cmd += ["--run", f"{variant}={folder}", "--changes", f"{variant}={p.changes[variant]}"]
    if variant in p.paper:
        cmd += ["--paper", f"{variant}={p.paper[variant]}"]
cmd += to_flags("score", p.score)
run_snakemake_job(smk, cmd)
