"""Bootstrap intervals: sanity, determinism, exactness of the multinomial shortcut."""

from __future__ import annotations

import numpy as np
import pytest

from trm.eval.stats import Bootstrap as B
from trm.eval.stats import bootstrap_ci, bootstrap_ratio_ci, paired_bootstrap_diff


def test_interval_contains_the_point_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    values = (rng.random(400) < 0.45).astype(float)
    lo, hi = bootstrap_ci(values, B(n_boot=2000, seed=1))
    assert lo < values.mean() < hi
    assert (lo, hi) == bootstrap_ci(values, B(n_boot=2000, seed=1))
    assert (lo, hi) != bootstrap_ci(values, B(n_boot=2000, seed=2))


def test_interval_width_shrinks_with_more_units():
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 500, 5000):
        lo, hi = bootstrap_ci((rng.random(n) < 0.5).astype(float), B(n_boot=2000, seed=0))
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    # ~ 2 * 1.96 * sqrt(p(1-p)/n) for a proportion
    assert widths[2] == pytest.approx(2 * 1.96 * np.sqrt(0.25 / 5000), rel=0.15)


def test_multinomial_shortcut_matches_index_resampling():
    """Resampling distinct values with multinomial counts = resampling units (in distribution)."""
    rng = np.random.default_rng(3)
    values = rng.choice([0.0, 0.5, 1.0], size=120, p=[0.5, 0.2, 0.3])
    lo, hi = bootstrap_ci(values, B(n_boot=20000, seed=0))
    naive = values[rng.integers(0, len(values), size=(20000, len(values)))].mean(1)
    nlo, nhi = np.quantile(naive, [0.025, 0.975])
    assert lo == pytest.approx(nlo, abs=0.01) and hi == pytest.approx(nhi, abs=0.01)


def test_constant_values_give_a_zero_width_interval():
    assert bootstrap_ci([1.0] * 30, B(n_boot=500)) == (1.0, 1.0)


def test_ratio_interval_pools_cells():
    right = np.array([81, 80, 81, 0, 81] * 40, dtype=float)
    total = np.full(200, 81.0)
    lo, hi = bootstrap_ratio_ci(right, total, B(n_boot=2000))
    assert lo < right.sum() / total.sum() < hi


def test_paired_difference():
    rng = np.random.default_rng(1)
    single = (rng.random(400) < 0.35).astype(float)
    paper = np.maximum(single, (rng.random(400) < 0.15).astype(float))  # paper never worse here
    out = paired_bootstrap_diff(paper, single, B(n_boot=4000, seed=0))
    assert out["diff"] == pytest.approx(paper.mean() - single.mean())
    assert 0 < out["ci_low"] < out["diff"] < out["ci_high"]
    assert out["p_value"] < 0.01
    same = paired_bootstrap_diff(single, single, B(n_boot=500))
    assert (same["diff"], same["ci_low"], same["ci_high"], same["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    # pairing matters: the paired interval is narrower than for independent samples
    unpaired = bootstrap_ci(paper, B(n_boot=4000))[1] - bootstrap_ci(paper, B(n_boot=4000))[0]
    assert out["ci_high"] - out["ci_low"] < unpaired


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci([], B())
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap_diff([1.0, 0.0], [1.0], B())
    with pytest.raises(ValueError, match="non-finite"):
        bootstrap_ci([1.0, float("nan")], B())


def test_wilson_interval_matches_known_values_and_is_never_degenerate():
    from trm.eval.stats import wilson_interval

    # 0 of 4: the bootstrap says [0, 0]; Wilson's upper bound is z^2 / (n + z^2) = 49.0 %.
    lo, hi = wilson_interval(0, 4)
    assert lo == 0.0 and hi == pytest.approx(1.96**2 / (4 + 1.96**2), abs=1e-3)
    lo, hi = wilson_interval(4, 4)
    assert hi == 1.0 and lo == pytest.approx(4 / (4 + 1.96**2), abs=1e-3)
    # 15 of 50, by hand: centre (0.3 + z²/100) / (1 + z²/50) = 0.3143, half-width 0.1232
    lo, hi = wilson_interval(15, 50)
    assert (round(lo, 3), round(hi, 3)) == (0.191, 0.438)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_proportion_ci_uses_wilson_where_the_bootstrap_degenerates():
    from trm.eval.stats import SMALL_N, proportion_ci

    lo, hi, method = proportion_ci(np.zeros(4), B())
    assert method == "wilson" and lo == 0.0 and hi > 0.4
    lo, hi, method = proportion_ci(np.ones(500), B())  # large n, but every unit passed
    assert method == "wilson" and hi == 1.0 and 0.99 < lo < 1.0
    small = np.array([0, 1, 0, 0, 1, 0.5])  # fewer than SMALL_N units: Wilson
    assert len(small) < SMALL_N and proportion_ci(small, B())[2] == "wilson"
    rng = np.random.default_rng(0)
    big = (rng.random(400) < 0.3).astype(float)
    lo, hi, method = proportion_ci(big, B(n_boot=2000))
    assert method == "bootstrap" and lo < big.mean() < hi
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        proportion_ci([0.5, 2.0], B())


def test_paired_diff_ci_is_never_degenerate_on_few_or_identical_units():
    from trm.eval.stats import CI_METHOD_MOVER, paired_diff_ci

    # both runs fail all 4 tasks: the bootstrap says [0, 0]; no change on 4 tasks cannot rule
    # out a difference of about half the tasks (Wilson 0 of 4 has upper bound 49 %)
    d = paired_diff_ci([0, 0, 0, 0], [0, 0, 0, 0], B())
    assert d["ci_method"] == CI_METHOD_MOVER and d["diff"] == 0 and d["p_value"] == 1.0
    assert d["ci_low"] == pytest.approx(-0.4899, abs=1e-3)
    assert d["ci_high"] == pytest.approx(0.4899, abs=1e-3)
    # the same when both solve the same 2 of 4 tasks (identical, not constant)
    same = paired_diff_ci([1, 1, 0, 0], [1, 1, 0, 0], B())
    assert same["ci_low"] < -0.4 and same["ci_high"] > 0.4
    # 2 of 4 tasks gained, none lost: the interval leans positive but still includes 0 (n = 4)
    g = paired_diff_ci([1, 1, 0, 0], [0, 0, 0, 0], B())
    assert g["diff"] == 0.5 and g["ci_low"] < 0 < 0.5 < g["ci_high"] <= 1
    assert g["p_value"] == 0.5  # exact sign test: 2 gains, 0 losses
    m = paired_diff_ci([0, 0, 0, 0], [1, 1, 0, 0], B())  # the runs swapped: the mirror image
    assert (m["ci_low"], m["ci_high"]) == pytest.approx((-g["ci_high"], -g["ci_low"]))
    # 2 gains and 2 losses on 4 tasks: no net change, and a wide interval
    mixed = paired_diff_ci([0, 0, 1, 1], [1, 1, 0, 0], B())
    assert mixed["diff"] == 0 and mixed["ci_low"] < -0.6 and mixed["ci_high"] > 0.6
    # 120 tasks with no change: the interval shrinks with n (0 of 120 changed: about +-3 pt)
    big = paired_diff_ci(np.zeros(120), np.zeros(120), B())
    assert big["ci_method"] == CI_METHOD_MOVER and 0.02 < big["ci_high"] < 0.04
    # enough units that disagree: the paired bootstrap, as before
    rng = np.random.default_rng(0)
    a, b = rng.random(60) < 0.6, rng.random(60) < 0.4
    boot = paired_diff_ci(a, b, B(n_boot=2000))
    assert boot["ci_method"] == "bootstrap" and boot["ci_low"] < boot["diff"] < boot["ci_high"]
    with pytest.raises(ValueError, match="differ in length"):
        paired_diff_ci([1, 0], [1], B())
