"""Wilson interval, decision bands, inconclusive results and exit codes."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from basesel.errors import ExitCode
from basesel.gate import Band, band_for, evaluate_gate, scenarios_to_settle, wilson_interval


@pytest.mark.parametrize("k,n", [(0, 10), (7, 10), (35, 50), (50, 50), (12, 50), (1, 1), (333, 1000)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(ci.low, abs=1e-9) and hi == pytest.approx(ci.high, abs=1e-9)


def test_wilson_known_value():
    # 70% of 50: about 56-81% (the figure quoted in the method notes)
    lo, hi = wilson_interval(35, 50)
    assert round(lo, 3) == 0.562 and round(hi, 3) == 0.809


@pytest.mark.parametrize("rate,band", [(0.0, Band.FULL_PIPELINE), (0.4999, Band.FULL_PIPELINE), (0.5, Band.FINE_TUNE), (0.6999, Band.FINE_TUNE), (0.7, Band.SUFFICIENT), (1.0, Band.SUFFICIENT)])
def test_bands(rate, band):
    assert band_for(rate) is band


def test_conclusive_results_and_exit_codes():
    high = evaluate_gate(48, 50)
    assert high.band is Band.SUFFICIENT and not high.inconclusive and high.exit_code == ExitCode.SUFFICIENT
    low = evaluate_gate(5, 50)
    assert low.band is Band.FULL_PIPELINE and not low.inconclusive and low.exit_code == ExitCode.FULL_PIPELINE
    mid = evaluate_gate(600, 1000)
    assert mid.band is Band.FINE_TUNE and not mid.inconclusive and mid.exit_code == ExitCode.FINE_TUNE


def test_inconclusive_near_cutoff_says_how_many_would_settle_it():
    g = evaluate_gate(38, 50)  # 76%, interval ~62-86% crosses 70%
    assert g.band is Band.SUFFICIENT and g.inconclusive and g.exit_code == ExitCode.INCONCLUSIVE
    assert g.settle_at_n and g.settle_at_n > 50
    lo, _ = wilson_interval(0.76 * g.settle_at_n, g.settle_at_n)
    assert lo >= 0.7
    lo_prev, _ = wilson_interval(0.76 * (g.settle_at_n - 1), g.settle_at_n - 1)
    assert lo_prev < 0.7  # the smallest such n


def test_rate_on_cutoff_never_settles():
    assert scenarios_to_settle(0.7) is None
    g = evaluate_gate(35, 50)
    assert g.inconclusive and g.settle_at_n is None


def test_nothing_scored():
    g = evaluate_gate(0, 0)
    assert g.rate is None and g.exit_code == ExitCode.NO_SCORED
