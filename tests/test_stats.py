"""basesel.stats against hand-computed values and scipy / statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basesel.stats import (
    bootstrap_interval,
    clustered_mcnemar,
    mcnemar,
    mcnemar_from_counts,
    paired_bootstrap,
    paired_cluster_bootstrap,
    paired_mean_difference,
)


def outcomes(both_pass: int, a_only: int, b_only: int, both_fail: int) -> tuple[list[bool], list[bool]]:
    a = [True] * both_pass + [True] * a_only + [False] * b_only + [False] * both_fail
    b = [True] * both_pass + [False] * a_only + [True] * b_only + [False] * both_fail
    return a, b


@pytest.mark.parametrize(
    "a_only, b_only, p_exact, p_mid",
    [
        # n = 7 discordant, k = 1: P(X<=1) = 8/128, P(X=1) = 7/128
        (1, 6, 16 / 128, 16 / 128 - 7 / 128),
        (6, 1, 16 / 128, 16 / 128 - 7 / 128),  # symmetric
        # n = 10, k = 0: P(X<=0) = 1/1024
        (0, 10, 2 / 1024, 2 / 1024 - 1 / 1024),
        # n = 12, k = 2: P(X<=2) = (1 + 12 + 66)/4096, P(X=2) = 66/4096
        (2, 10, 158 / 4096, 92 / 4096),
        # an even split: nothing to see; the exact p is capped at 1 and the mid-p is exactly 1
        (4, 4, 1.0, 1.0),
        # n = 5, k = 2: P(X<=2) = 16/32 -> exact 1.0 (capped); mid-p = 1 - 10/32
        (2, 3, 1.0, 1 - 10 / 32),
    ],
)
def test_mcnemar_by_hand(a_only, b_only, p_exact, p_mid):
    r = mcnemar(*outcomes(5, a_only, b_only, 3))
    assert (r.both_pass, r.a_only, r.b_only, r.both_fail) == (5, a_only, b_only, 3)
    assert r.discordant == a_only + b_only
    assert r.p_exact == pytest.approx(p_exact, rel=1e-12)
    assert r.p_mid == pytest.approx(p_mid, rel=1e-12)


def test_mcnemar_matches_statsmodels_and_scipy():
    from scipy.stats import binomtest
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    for both_pass, a_only, b_only, both_fail in [(40, 3, 12, 5), (0, 0, 1, 0), (10, 25, 17, 8), (3, 60, 71, 2)]:
        r = mcnemar_from_counts(both_pass, a_only, b_only, both_fail)
        table = [[both_pass, a_only], [b_only, both_fail]]
        assert r.p_exact == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-12)
        n, k = a_only + b_only, min(a_only, b_only)
        assert r.p_exact == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-9)
        # mid-p = exact p - P(X = k) when the two tails are distinct (Fagerland, Lydersen & Laake 2013)
        from scipy.stats import binom

        if a_only != b_only:
            assert r.p_mid == pytest.approx(binomtest(k, n, 0.5).pvalue - binom.pmf(k, n, 0.5), rel=1e-9)


def test_mcnemar_without_discordant_pairs_and_bad_input():
    r = mcnemar([True, False, True], [True, False, True])
    assert (r.p_exact, r.p_mid, r.discordant) == (1.0, 1.0, 0)
    assert r.to_dict() == {"both_pass": 2, "a_only": 0, "b_only": 0, "both_fail": 1, "p_exact": 1.0, "p_mid": 1.0, "discordant": 0}
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar([True], [True, False])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_mcnemar_properties(pairs):
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    r, swapped = mcnemar(a, b), mcnemar(b, a)
    assert 0 <= r.p_mid <= r.p_exact <= 1
    assert (r.p_exact, r.p_mid) == pytest.approx((swapped.p_exact, swapped.p_mid))
    assert r.both_pass + r.a_only + r.b_only + r.both_fail == len(pairs)


def test_clustered_mcnemar_by_hand_and_against_the_asymptotic_test():
    from scipy.stats import chi2
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    # clusters of one pair: (b - c)^2 / (b + c), McNemar's uncorrected chi-square
    a_only = [1] * 4 + [0] * 9
    b_only = [0] * 4 + [1] * 9
    expected = sm_mcnemar([[0, 4], [9, 0]], exact=False, correction=False).pvalue
    assert clustered_mcnemar(a_only, b_only) == pytest.approx(expected, rel=1e-12)
    assert clustered_mcnemar(a_only, b_only) == pytest.approx(chi2.sf(25 / 13, 1), rel=1e-12)
    # by hand: per-cluster differences d = [2, -1, 3, 0]: (sum d)^2 / sum d^2 = 16 / 14
    assert clustered_mcnemar([2, 0, 3, 1], [0, 1, 0, 1]) == pytest.approx(chi2.sf(16 / 14, 1), rel=1e-12)
    assert clustered_mcnemar([1, 0], [1, 0]) == 1.0  # no discordance left after the clusters cancel
    with pytest.raises(ValueError):
        clustered_mcnemar([1], [1, 2])


def test_paired_mean_difference_against_the_normal_interval_and_scipy():
    from scipy import stats as sps

    rng = np.random.default_rng(7)
    a = (rng.random(400) < 0.55).astype(float)
    b = np.where(rng.random(400) < 0.8, a, 1 - a)  # paired: mostly the same outcome
    r = paired_mean_difference(a, b, n_resamples=20_000, seed=3)
    d = b - a
    assert r.estimate == pytest.approx(d.mean()) and r.n == 400 and r.confidence == 0.95
    half = 1.959964 * d.std(ddof=1) / math.sqrt(d.size)
    assert r.low == pytest.approx(d.mean() - half, abs=0.01) and r.high == pytest.approx(d.mean() + half, abs=0.01)
    ref = sps.bootstrap((d,), np.mean, n_resamples=20_000, method="percentile", random_state=11).confidence_interval
    assert r.low == pytest.approx(ref.low, abs=0.006) and r.high == pytest.approx(ref.high, abs=0.006)
    # the same seed gives the same interval; another seed nearly the same
    assert paired_mean_difference(a, b, n_resamples=20_000, seed=3) == r
    other = paired_mean_difference(a, b, n_resamples=20_000, seed=4)
    assert other.low == pytest.approx(r.low, abs=0.006)


def test_paired_mean_difference_edges():
    same = paired_mean_difference([1, 0, 1], [1, 0, 1], n_resamples=500)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    all_better = paired_mean_difference([0] * 5, [1] * 5, n_resamples=500)
    assert (all_better.estimate, all_better.low, all_better.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="differ in length"):
        paired_mean_difference([1], [1, 0])
    with pytest.raises(ValueError, match="no paired items"):
        paired_mean_difference([], [])


def test_paired_bootstrap_keeps_the_pairing():
    # B = A + 0.1 on every item: each resample's difference is exactly 0.1; an unpaired bootstrap would spread
    a = np.linspace(0, 1, 50)
    b = a + 0.1
    r = paired_bootstrap(50, lambda idx: float(b[idx].mean() - a[idx].mean()), n_resamples=300)
    assert (r.estimate, r.low, r.high) == pytest.approx((0.1, 0.1, 0.1))
    with pytest.raises(ValueError):
        paired_bootstrap(0, lambda idx: 0.0)


def test_bootstrap_interval_of_a_pass_rate_is_close_to_wilson():
    from basesel.gate import wilson_interval

    passed = np.array([1.0] * 130 + [0.0] * 70)
    r = bootstrap_interval(200, lambda idx: float(passed[idx].mean()), n_resamples=4000, seed=1)
    lo, hi = wilson_interval(130, 200)
    assert r.estimate == 0.65 and r.low == pytest.approx(lo, abs=0.015) and r.high == pytest.approx(hi, abs=0.015)


def test_paired_cluster_bootstrap():
    # clusters of 3 samples, each cluster all-or-nothing: the effective n is the 40 clusters, not 120 samples
    rng = np.random.default_rng(5)
    a_c = (rng.random(40) < 0.5).astype(int) * 3
    b_c = np.where(rng.random(40) < 0.7, a_c, 3 - a_c)
    sizes = [3] * 40
    clustered = paired_cluster_bootstrap(a_c, b_c, sizes, n_resamples=10_000, seed=0)
    assert clustered.estimate == pytest.approx((b_c.sum() - a_c.sum()) / 120) and clustered.n == 120
    flat_a = np.repeat(a_c / 3, 3)
    flat_b = np.repeat(b_c / 3, 3)
    naive = paired_mean_difference(flat_a, flat_b, n_resamples=10_000, seed=0)
    assert naive.estimate == pytest.approx(clustered.estimate)
    # resampling clusters widens the interval by about sqrt(3) over resampling correlated samples
    ratio = (clustered.high - clustered.low) / (naive.high - naive.low)
    assert 1.4 < ratio < 2.1
    # with clusters of one it is the paired bootstrap of the items
    one = paired_cluster_bootstrap([1, 0, 0, 1, 1], [1, 1, 0, 1, 0], [1] * 5, n_resamples=2000, seed=2)
    assert one.estimate == pytest.approx(0.0)
    with pytest.raises(ValueError):
        paired_cluster_bootstrap([1], [1, 2], [1])
    with pytest.raises(ValueError):
        paired_cluster_bootstrap([], [], [])
