"""The verdict on one claim: the rule, written once.

Given a claimed figure (with the tolerance its source states, if any) and what this report
measured in that setting (a value with its 95 % interval), the verdict is:

- **not run**: no experiment of this report measures the claim's metric;
- **not comparable**: an experiment measures the metric but not in the claim's setting (a smoke
  run, a CPU run, fewer augmentations, another checkpoint); the settings that differ are named;
- **consistent**: the claimed value lies inside our 95 % interval, or our value lies within the
  source's own tolerance of the claimed value (e.g. the reference README's "87 % ± 2");
- **higher** / **lower**: our whole interval lies above / below the claimed value (and outside
  its tolerance); the difference ours minus claimed is given with its interval.

Effects (voting gain, blank-ID drop, step 1 vs 4, checkpoint A vs B) are judged the same way on
the PAIRED difference and its interval (trm.eval.paired), never on two separate intervals.
All values are in the claim's unit (percent or points for rates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

CONSISTENT = "consistent"
HIGHER = "higher"
LOWER = "lower"
NOT_RUN = "not run"
NOT_COMPARABLE = "not comparable"
VERDICTS = (CONSISTENT, HIGHER, LOWER, NOT_RUN, NOT_COMPARABLE)


@dataclass(frozen=True)
class Measured:
    """What an experiment of this report measured for a claim's metric."""

    value: float
    ci_low: float
    ci_high: float
    n: int
    ci_method: str
    experiment: str
    differs: Sequence[str] = field(default_factory=tuple)  # settings outside the claim's

    def __post_init__(self) -> None:
        if not self.ci_low <= self.value <= self.ci_high:
            raise ValueError(
                f"{self.experiment}: value {self.value} outside its interval "
                f"[{self.ci_low}, {self.ci_high}]"
            )


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str
    diff: float | None = None  # ours minus claimed
    diff_ci_low: float | None = None
    diff_ci_high: float | None = None


def not_comparable(experiment: str, differs: Sequence[str]) -> Verdict:
    """An experiment measures the claim's metric outside the claim's setting, naming what
    differs (also for a measurement that has no value in the claim's terms)."""
    return Verdict(
        NOT_COMPARABLE, f"{experiment} is not in the claim's setting: " + "; ".join(differs)
    )


def judge(claimed: float, tolerance: float | None, measured: Measured | None) -> Verdict:
    """The verdict on a claimed value given our measurement (None: nothing measured it). A
    measurement without an interval (ci_low == ci_high, e.g. one timed benchmark) is judged as a
    point and said so."""
    if measured is None:
        return Verdict(NOT_RUN, "no experiment of this report measures it")
    if measured.differs:
        return not_comparable(measured.experiment, measured.differs)
    diff = measured.value - claimed
    lo, hi = measured.ci_low - claimed, measured.ci_high - claimed
    inside = measured.ci_low <= claimed <= measured.ci_high
    tol = tolerance or 0.0
    point = measured.ci_low == measured.ci_high
    ours = f"our value ({measured.ci_method}, no interval)" if point else "our whole 95 % interval"
    if inside:
        text = (
            "ours equals the claimed value"
            if point
            else "the claimed value lies inside our 95 % interval"
        )
        return Verdict(CONSISTENT, text, diff, lo, hi)
    if tolerance is not None and abs(diff) <= tol:
        return Verdict(
            CONSISTENT, f"ours lies within the source's tolerance of ± {tol:g}", diff, lo, hi
        )
    if measured.ci_low > claimed:
        return Verdict(HIGHER, f"{ours} lies above the claimed value", diff, lo, hi)
    return Verdict(LOWER, f"{ours} lies below the claimed value", diff, lo, hi)
