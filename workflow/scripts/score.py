"""score: `trm score <kind>` in paper (voting) or single mode.

Writes metrics.json with the keys declared in trm/eval/schema.py (intervals as <key>_ci_low /
<key>_ci_high, their method as <key>_ci_method, and the counts n_tasks / n_test_inputs or
n_examples), which the report reads as they are.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import trm  # noqa: E402

from trm.jobargs import to_flags  # noqa: E402
from trm.provenance import run_snakemake_job  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
out_dir = str(Path(smk.output.metrics).parent)
kind = smk.params.kind
cmd = trm(
    "score",
    kind,
    "--data",
    smk.input.data,
    "--predictions",
    smk.input.predictions,
    "--out",
    out_dir,
)
if kind == "arc":  # Sudoku and Maze have one mode (no test-time augmentation)
    cmd += ["--mode", smk.wildcards.mode]
cmd += to_flags("score", smk.params.score)
run_snakemake_job(smk, cmd, extra_outputs=[out_dir])
