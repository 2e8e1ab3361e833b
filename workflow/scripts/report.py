"""report: write the report spec, run `trm report --spec`, add the job's own record to the bundle."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _job import run_report  # noqa: E402

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_report(smk)
