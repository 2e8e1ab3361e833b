"""How the report writes numbers: a rate in percent, a difference in points, and an interval
followed by the name of its method (trm.eval.schema.CI_METHOD_SHORT)."""

from __future__ import annotations


def pct(v: float) -> str:
    """0.125 -> '12.5 %'."""
    return f"{100 * v:.1f} %"


def pts(v: float) -> str:
    """0.125 -> '+12.5 pt' (a difference of two rates)."""
    return f"{100 * v:+.1f} pt"


def interval(lo: float, hi: float, method: str | None = None, signed: bool = False) -> str:
    """'[1.0, 2.0] Wilson', or for a difference '[-1.0, +2.0] pt Wilson-MOVER'; `method` is the
    name the report shows (None: no name)."""
    f = "{:+.1f}" if signed else "{:.1f}"
    text = f"[{f.format(100 * lo)}, {f.format(100 * hi)}]" + (" pt" if signed else "")
    return f"{text} {method}" if method else text
