"""Bootstrap confidence intervals (percentile method), vectorised and seeded.

Resampling n units with replacement only changes how many times each distinct unit value is
drawn, so the bootstrap is run on the distinct values with multinomial counts: exact in
distribution, and O(n_boot x distinct values) rather than O(n_boot x n) (a Sudoku test set has
423k puzzles but few distinct per-puzzle values). When nearly every value is distinct the
counts are drawn per unit instead, in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trm.settings import SEED, count, setting

DEFAULT_N_BOOT = 10_000
DEFAULT_SEED = 0


@dataclass(kw_only=True)
class Bootstrap:
    """The resampling behind every interval and paired difference: one declaration, used by
    every command that computes intervals (its flags --n-boot and --seed) and by the workflow's
    `score` and `sweep` sections."""

    n_boot: int = setting(
        DEFAULT_N_BOOT,
        check=count(100, 10_000_000),
        help="bootstrap resamples behind every interval",
    )
    seed: int = setting(DEFAULT_SEED, check=SEED, help="seed of the bootstrap resampling")


_MAX_CELLS = 1 << 24  # resampling matrix entries per chunk


def _resample_weights(keys: np.ndarray, boot: Bootstrap) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of `keys` [n, d] and their bootstrap counts [resamples, n_distinct]."""
    n, n_boot = len(keys), boot.n_boot
    uniq, counts = np.unique(keys, axis=0, return_counts=True)
    rng = np.random.default_rng(boot.seed)
    p = counts / n
    weights = np.empty((n_boot, len(uniq)), dtype=np.int64)
    step = max(1, _MAX_CELLS // max(len(uniq), 1))
    for s in range(0, n_boot, step):
        e = min(s + step, n_boot)
        weights[s:e] = rng.multinomial(n, p, size=e - s)
    return uniq, weights


def _interval(boot: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _as_units(values: np.ndarray | list, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per unit), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: no units to bootstrap over")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds non-finite values")
    return arr


def bootstrap_ci(
    values: np.ndarray | list, boot: Bootstrap, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile interval for the mean of `values` (one value per unit, e.g. per task)."""
    v = _as_units(values, "values")
    uniq, w = _resample_weights(v[:, None], boot)
    return _interval(w @ uniq[:, 0] / len(v), alpha)


def bootstrap_ratio_ci(
    numerators: np.ndarray | list,
    denominators: np.ndarray | list,
    boot: Bootstrap,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Interval for sum(num)/sum(den), resampling units (e.g. correct cells / cells per puzzle)."""
    num = _as_units(numerators, "numerators")
    den = _as_units(denominators, "denominators")
    if num.shape != den.shape:
        raise ValueError(f"numerators {num.shape} and denominators {den.shape} differ in length")
    uniq, w = _resample_weights(np.stack([num, den], 1), boot)
    tot_den = w @ uniq[:, 1]
    boot = (w @ uniq[:, 0]) / np.where(tot_den > 0, tot_den, 1)
    return _interval(boot, alpha)


def paired_bootstrap_diff(
    a: np.ndarray | list, b: np.ndarray | list, boot: Bootstrap, alpha: float = 0.05
) -> dict[str, float]:
    """mean(a) - mean(b) over the same units, resampled together (units keep their pairing).

    Returns the difference, its percentile interval, and the share of resamples on the other
    side of zero from the observed difference (a two-sided bootstrap p-value, capped at 1).
    """
    x = _as_units(a, "a")
    y = _as_units(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.shape[0]} vs {y.shape[0]} units")
    uniq, w = _resample_weights(np.stack([x, y], 1), boot)
    resampled = w @ (uniq[:, 0] - uniq[:, 1]) / len(x)
    diff = float(x.mean() - y.mean())
    lo, hi = _interval(resampled, alpha)
    if diff > 0:
        p = 2 * float(np.mean(resampled <= 0))
    elif diff < 0:
        p = 2 * float(np.mean(resampled >= 0))
    else:
        p = 1.0
    return {
        "diff": diff,
        "ci_low": lo,
        "ci_high": hi,
        "p_value": min(p, 1.0),
        "n_units": int(len(x)),
    }


# ---------------------------------------------------------------------------------------------
# Intervals for a proportion when the bootstrap cannot give one

SMALL_N = 30  # below this many units the percentile bootstrap undercovers; use Wilson
CI_METHOD_BOOTSTRAP = "bootstrap"  # percentile bootstrap over units
CI_METHOD_WILSON = "wilson"  # Wilson score interval over units


def wilson_interval(successes: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a proportion successes / n.

    Unlike the bootstrap it is not degenerate at 0 or n successes: 0 of 4 gives [0, 49 %], not
    [0, 0]. `successes` may be fractional (a sum of per-unit pass rates).
    """
    from statistics import NormalDist

    if n <= 0:
        raise ValueError("n must be positive: no units to estimate a proportion over")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within [0, n={n}], got {successes}")
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def proportion_ci(
    values: np.ndarray | list, boot: Bootstrap, alpha: float = 0.05
) -> tuple[float, float, str]:
    """Interval for the mean of per-unit values in [0, 1] (a proportion over units), and the
    method used: the percentile bootstrap, or Wilson where the bootstrap degenerates (every unit
    the same value, e.g. all 0: a zero-width interval) or n < SMALL_N units (undercovers)."""
    v = _as_units(values, "values")
    if np.any((v < 0) | (v > 1)):
        raise ValueError("values must lie in [0, 1] (one pass rate per unit)")
    if len(v) < SMALL_N or np.all(v == v[0]):
        lo, hi = wilson_interval(float(v.sum()), len(v), alpha)
        return lo, hi, CI_METHOD_WILSON
    lo, hi = bootstrap_ci(v, boot, alpha)
    return lo, hi, CI_METHOD_BOOTSTRAP


# ---------------------------------------------------------------------------------------------
# Paired differences: the bootstrap where it works, a score-based interval where it cannot

CI_METHOD_MOVER = "wilson-mover"  # Wilson intervals of gains and losses, combined (MOVER)


def _sign_test_p(gains: int, losses: int) -> float:
    """Two-sided exact sign test: units that got better vs worse (ties carry no sign)."""
    from math import comb

    m = gains + losses
    if m == 0:
        return 1.0
    tail = sum(comb(m, i) for i in range(min(gains, losses) + 1)) / 2**m
    return min(1.0, 2 * tail)


def paired_diff_ci(
    a: np.ndarray | list, b: np.ndarray | list, boot: Bootstrap, alpha: float = 0.05
) -> dict[str, Any]:
    """mean(a) - mean(b) over the same units (values in [0, 1], e.g. per-task pass rates).

    The paired percentile bootstrap when it can be trusted; otherwise (fewer than SMALL_N
    units, or every unit's difference the same, where the bootstrap interval has zero width:
    4 tasks that both runs fail give [0, 0]) the MOVER combination of Wilson intervals: the
    difference is gains minus losses, p_g - p_l with gain_i = max(a_i - b_i, 0) and loss_i =
    max(b_i - a_i, 0), and each side's Wilson interval is recovered into the difference's
    (Zou & Donner's method of variance estimates recovery, with the sample correlation of
    gains and losses). No change on 4 tasks gives about [-49, +49] points, not [0, 0]. The
    p-value is then the exact two-sided sign test over units that changed. Returns diff,
    ci_low, ci_high, ci_method ("bootstrap" or "wilson-mover"), p_value, n_units.
    """
    x = _as_units(a, "a")
    y = _as_units(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.shape[0]} vs {y.shape[0]} units")
    if np.any((x < 0) | (x > 1) | (y < 0) | (y > 1)):
        raise ValueError("values must lie in [0, 1] (one pass rate per unit)")
    d = x - y
    if len(d) >= SMALL_N and not np.all(d == d[0]):
        return paired_bootstrap_diff(x, y, boot, alpha) | {"ci_method": CI_METHOD_BOOTSTRAP}
    n = len(d)
    gain, loss = np.maximum(d, 0), np.maximum(-d, 0)
    p_g, p_l = float(gain.mean()), float(loss.mean())
    lo_g, hi_g = wilson_interval(float(gain.sum()), n, alpha)
    lo_l, hi_l = wilson_interval(float(loss.sum()), n, alpha)
    r = 0.0
    if gain.std() > 0 and loss.std() > 0:
        r = float(np.corrcoef(gain, loss)[0, 1])
    diff = p_g - p_l
    down = np.sqrt(
        max(0.0, (p_g - lo_g) ** 2 + (hi_l - p_l) ** 2 - 2 * r * (p_g - lo_g) * (hi_l - p_l))
    )
    up = np.sqrt(
        max(0.0, (hi_g - p_g) ** 2 + (p_l - lo_l) ** 2 - 2 * r * (hi_g - p_g) * (p_l - lo_l))
    )
    return {
        "diff": diff,
        "ci_low": max(-1.0, diff - float(down)),
        "ci_high": min(1.0, diff + float(up)),
        "ci_method": CI_METHOD_MOVER,
        "p_value": _sign_test_p(int(np.sum(d > 0)), int(np.sum(d < 0))),
        "n_units": n,
    }
