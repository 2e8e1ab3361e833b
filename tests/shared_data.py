"""The one place that decides what a test does when ../shared (goldens, ARC files) is absent.

Locally a missing ../shared skips those tests with a reason. In CI `.ci/run` sets
TRM_REQUIRE_SHARED=1, and a missing file fails them instead: a reference comparison that
silently skipped would let a broken port pass.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REQUIRE_ENV = "TRM_REQUIRE_SHARED"
MISSING_MARK = "shared_missing"  # carries the reason; tests/conftest.py fails the test


def shared_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def shared_missing(reason: str) -> NoReturn:
    """Inside a test or fixture: skip, or fail under TRM_REQUIRE_SHARED=1."""
    if shared_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: shared data must be present)", pytrace=False)
    pytest.skip(reason)


def needs_shared(*paths: Path, reason: str | None = None) -> pytest.MarkDecorator:
    """A mark for tests that read `paths` under ../shared: skip, or fail when required."""
    missing = [p for p in paths if not Path(p).exists()]
    if not missing:
        return getattr(pytest.mark, MISSING_MARK)(None)  # present: the mark does nothing
    why = reason or f"{missing[0]} not found (../shared absent)"
    if shared_required():
        return getattr(pytest.mark, MISSING_MARK)(why)
    return pytest.mark.skip(reason=why)
