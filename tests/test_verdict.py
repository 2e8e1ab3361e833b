"""The claims ledger's verdict rule (issue 20): crafted values on both sides of each boundary."""

from __future__ import annotations

import pytest

from trm.verdict import CONSISTENT, HIGHER, LOWER, NOT_COMPARABLE, NOT_RUN, Measured, judge


def m(value: float, lo: float, hi: float, differs: tuple[str, ...] = ()) -> Measured:
    return Measured(value, lo, hi, n=400, ci_method="bootstrap", experiment="e", differs=differs)


def test_nothing_measured_is_not_run() -> None:
    assert judge(44.6, None, None).verdict == NOT_RUN


def test_another_setting_is_not_comparable_and_names_what_differs() -> None:
    v = judge(44.6, None, m(44.6, 40, 49, differs=("smoke run", "8 augmentations, not 1000")))
    assert v.verdict == NOT_COMPARABLE
    assert "smoke run" in v.reason and "8 augmentations" in v.reason


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (44.6, 50.0, CONSISTENT),  # claimed exactly on the lower bound: inside
        (44.61, 50.0, HIGHER),  # just above
        (40.0, 44.6, CONSISTENT),  # on the upper bound
        (40.0, 44.59, LOWER),  # just below
    ],
)
def test_the_interval_boundary(lo: float, hi: float, expected: str) -> None:
    value = (lo + hi) / 2
    v = judge(44.6, None, m(value, lo, hi))
    assert v.verdict == expected
    assert v.diff == pytest.approx(value - 44.6)
    assert (v.diff_ci_low, v.diff_ci_high) == pytest.approx((lo - 44.6, hi - 44.6))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(85.0, CONSISTENT), (84.99, LOWER), (89.0, CONSISTENT), (89.01, HIGHER)],
)
def test_the_sources_tolerance_boundary(value: float, expected: str) -> None:
    """README: Sudoku-Extreme MLP 87 % +- 2; our narrow interval decides nothing by itself."""
    v = judge(87.0, 2.0, m(value, value - 0.1, value + 0.1))
    assert v.verdict == expected


def test_effects_are_judged_on_the_paired_difference() -> None:
    """Voting adds about 11 points: our paired difference +9 [+4, +14] is consistent."""
    assert judge(11.0, None, m(9.0, 4.0, 14.0)).verdict == CONSISTENT
    assert judge(11.0, None, m(2.0, 0.5, 3.5)).verdict == LOWER


def test_a_value_outside_its_own_interval_is_a_bug() -> None:
    with pytest.raises(ValueError, match="outside its interval"):
        m(50.0, 40.0, 45.0)
