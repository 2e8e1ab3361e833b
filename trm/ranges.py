"""The kinds of values a setting can be, each with ONE validator: seeds, counts, sizes,
probabilities, percentages, positive numbers, file-safe names. Every command's declaration
(trm.settings), the workflow's start-up check and the generated config schema use these same
objects, so a bound is stated once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from trm.errors import InputError


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric setting. `kind` names what the number is, for messages and docs."""

    kind: str
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False

    @property
    def whole(self) -> bool:
        """Counts, sizes and seeds are whole numbers."""
        return self.kind in ("count", "size", "seed")

    def check(self, name: str, value: float) -> None:
        low_bad = self.min is not None and (
            value <= self.min if self.min_exclusive else value < self.min
        )
        high_bad = self.max is not None and (
            value >= self.max if self.max_exclusive else value > self.max
        )
        if low_bad or high_bad:
            raise InputError(f"{name}: {value!r} is not a valid {self.kind} ({self.describe()})")

    def describe(self) -> str:
        lo = "" if self.min is None else f"{'>' if self.min_exclusive else '>='} {_num(self.min)}"
        hi = "" if self.max is None else f"{'<' if self.max_exclusive else '<='} {_num(self.max)}"
        return " and ".join(filter(None, [lo, hi])) or "any finite number"

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.min is not None:
            out["exclusiveMinimum" if self.min_exclusive else "minimum"] = self.min
        if self.max is not None:
            out["exclusiveMaximum" if self.max_exclusive else "maximum"] = self.max
        return out


def check_number(where: str, value: Any, bounds: Range | None = None) -> None:
    """A number from outside a declaration (a Hydra override): finite, whole, within bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{where}: {value!r} is not a finite number")
    if bounds is not None:
        if bounds.whole and not float(value).is_integer():
            raise InputError(f"{where}: expected a whole number, got {value!r}")
        bounds.check(where, value)


def _num(x: float) -> str:
    """1000000 -> '1,000,000'; 0.5 -> '0.5' (bounds in messages and help)."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are 32-bit unsigned
SEED = Range("seed", 0, SEED_MAX)
PROBABILITY = Range("probability", 0.0, 1.0)
FRACTION = PROBABILITY
PERCENT = Range("percentage", 0.0, 100.0)  # an accuracy in percent (the paper's figures)


# A name that becomes part of a file name: no '/', no leading '.', nothing a shell treats specially
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit"


def count(min: int = 0, max: int | None = None) -> Range:
    """A number of things (steps, resamples, augmentations, examples)."""
    return Range("count", min, max)


def size(min: int, max: int) -> Range:
    """A size in cells, tokens or items that decides an allocation: bounded on both sides."""
    return Range("size", min, max)


def positive(max: float | None = None) -> Range:
    """A positive real (a learning rate, a time limit)."""
    return Range("positive number", 0.0, max, min_exclusive=True)


def non_negative(max: float | None = None) -> Range:
    return Range("non-negative number", 0.0, max)
