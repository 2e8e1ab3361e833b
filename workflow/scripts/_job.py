"""Shared by the adapters: the checkout's trm/ first on the path, then trm.workflow.adapter.

Every adapter is a few lines: it names the job's inputs and outputs under the command's declared
names and calls `run`, which builds the command line from the declaration (`Command.argv`) and
the job's settings (params `job`), runs it and writes the job's provenance record.
"""

import os
import sys
from pathlib import Path

# The checkout holding this workflow: its trm/ is the code every job runs (also inside a conda
# environment made from envs/trm.yaml, which does not install the package).
REPO_ROOT = Path(__file__).resolve().parents[2]
if (REPO_ROOT / "trm" / "__init__.py").exists():
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
    )

from trm.workflow.adapter import (  # noqa: E402,F401 (re-exported for the adapters)
    checkpoint_path,
    folder,
    run,
    run_report,
    torchrun,
)
