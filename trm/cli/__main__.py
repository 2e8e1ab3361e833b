"""`python -m trm.cli ...` = `trm ...` (what workflow jobs and torchrun run)."""

import sys

from trm.cli import main

sys.exit(main())
