"""Session-wide test hooks (helpers live in small modules beside the tests)."""

from __future__ import annotations

import pytest
from shared_data import MISSING_MARK, REQUIRE_ENV


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MISSING_MARK}(reason): needs ../shared; fails under {REQUIRE_ENV}=1"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    mark = item.get_closest_marker(MISSING_MARK)
    if mark is not None and mark.args and mark.args[0]:
        pytest.fail(f"{mark.args[0]} ({REQUIRE_ENV}=1: shared data must be present)", pytrace=False)
