"""Paired statistics shared by `compare`, the fine-tune re-evaluation and the benchmark.

Two conditions measured on the same items are paired: the tests here use that pairing (McNemar on the
discordant pairs, a bootstrap that resamples items, not each condition apart). scipy and statsmodels are
imported inside the functions: they cost about a second of start-up, and the CLI must stay fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

DEFAULT_RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired pass/fail outcomes.

    `b` = items that passed under A and failed under B, `c` = failed under A and passed under B.
    `p_exact` is the exact two-sided binomial test on the discordant pairs (statsmodels); `p_mid` the
    mid-p variant (the exact p less the probability of the observed split), which holds the nominal
    type-I rate more closely.
    """

    both_pass: int
    a_only: int  # b: passed under A only
    b_only: int  # c: passed under B only
    both_fail: int
    p_exact: float
    p_mid: float

    @property
    def discordant(self) -> int:
        return self.a_only + self.b_only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"discordant": self.discordant}


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> McNemarResult:
    """McNemar's exact test for two paired boolean outcome lists (same items, same order)."""
    if len(a) != len(b):
        raise ValueError(f"paired outcomes differ in length: {len(a)} vs {len(b)}")
    both_pass = sum(1 for x, y in zip(a, b) if x and y)
    a_only = sum(1 for x, y in zip(a, b) if x and not y)
    b_only = sum(1 for x, y in zip(a, b) if y and not x)
    both_fail = len(a) - both_pass - a_only - b_only
    return mcnemar_from_counts(both_pass, a_only, b_only, both_fail)


def mcnemar_from_counts(both_pass: int, a_only: int, b_only: int, both_fail: int) -> McNemarResult:
    n = a_only + b_only
    if n == 0:
        return McNemarResult(both_pass, a_only, b_only, both_fail, 1.0, 1.0)
    from scipy.stats import binom
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    table = [[both_pass, a_only], [b_only, both_fail]]
    p_exact = float(sm_mcnemar(table, exact=True).pvalue)
    k = min(a_only, b_only)
    # mid-p: the exact two-sided p minus the probability of the observed table itself
    p_mid = min(1.0, 2 * float(binom.cdf(k, n, 0.5)) - float(binom.pmf(k, n, 0.5)))
    return McNemarResult(both_pass, a_only, b_only, both_fail, min(1.0, p_exact), max(0.0, p_mid))


def clustered_mcnemar(a_only: Sequence[int], b_only: Sequence[int]) -> float:
    """Two-sided p of McNemar's test for clustered pairs (Durkalski et al. 2003, Statistics in Medicine
    22:2417): several paired samples per scenario are not independent, so the discordant counts are
    taken per cluster. `a_only[k]` / `b_only[k]` = pairs of cluster k that passed under A only / B only.
    X^2 = (sum(b_k - c_k))^2 / sum((b_k - c_k)^2), 1 degree of freedom; with one pair per cluster it
    is the uncorrected asymptotic McNemar statistic (b - c)^2 / (b + c)."""
    if len(a_only) != len(b_only):
        raise ValueError(f"per-cluster counts differ in length: {len(a_only)} vs {len(b_only)}")
    diffs = [x - y for x, y in zip(a_only, b_only)]
    denominator = sum(d * d for d in diffs)
    if denominator == 0:
        return 1.0
    from scipy.stats import chi2

    return float(chi2.sf(sum(diffs) ** 2 / denominator, 1))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    confidence: float = CONFIDENCE
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile_interval(draws: Any, estimate: float, confidence: float, n: int) -> Interval:
    import numpy as np

    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return Interval(estimate, estimate, estimate, confidence, n)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha])
    return Interval(float(estimate), float(lo), float(hi), confidence, n)


def paired_bootstrap(
    n_items: int,
    statistic: Callable[[Any], float],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Percentile bootstrap of a paired statistic: `statistic(idx)` gets an index array into the items
    (the same indices for both conditions, which keeps the pairing) and returns e.g. metric(B) - metric(A)."""
    import numpy as np

    if n_items <= 0:
        raise ValueError("no paired items to bootstrap")
    all_idx = np.arange(n_items)
    estimate = float(statistic(all_idx))
    rng = np.random.default_rng(seed)
    draws = [statistic(rng.integers(0, n_items, n_items)) for _ in range(n_resamples)]
    return _percentile_interval(draws, estimate, confidence, n_items)


def paired_mean_difference(a: Sequence[float], b: Sequence[float], *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE) -> Interval:
    """Bootstrap interval of mean(b) - mean(a) over paired items (pass rates when the values are 0/1)."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired values differ in length: {len(a)} vs {len(b)}")
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if diff.size == 0:
        raise ValueError("no paired items to bootstrap")
    rng = np.random.default_rng(seed)
    # vectorised: one (resamples x n) index matrix, in chunks to bound memory on large runs
    draws = []
    chunk = max(1, 2_000_000 // diff.size)
    left = n_resamples
    while left > 0:
        k = min(chunk, left)
        draws.append(diff[rng.integers(0, diff.size, (k, diff.size))].mean(axis=1))
        left -= k
    return _percentile_interval(np.concatenate(draws), float(diff.mean()), confidence, int(diff.size))


def paired_cluster_bootstrap(
    a_passed: Sequence[float],
    b_passed: Sequence[float],
    sizes: Sequence[int],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Bootstrap interval of the pass-rate difference B - A when items come in clusters (several samples
    of one scenario): whole clusters are resampled, so the samples' correlation widens the interval as it
    should. `a_passed[k]` / `b_passed[k]`: passes of cluster k under A / B, out of `sizes[k]` pairs."""
    import numpy as np

    if not (len(a_passed) == len(b_passed) == len(sizes)):
        raise ValueError("per-cluster passes and sizes differ in length")
    a, b, n = (np.asarray(x, dtype=float) for x in (a_passed, b_passed, sizes))
    if a.size == 0 or n.sum() <= 0:
        raise ValueError("no paired items to bootstrap")
    diff = b - a
    rng = np.random.default_rng(seed)
    draws = []
    chunk = max(1, 2_000_000 // diff.size)
    left = n_resamples
    while left > 0:
        k = min(chunk, left)
        idx = rng.integers(0, diff.size, (k, diff.size))
        draws.append(diff[idx].sum(axis=1) / n[idx].sum(axis=1))
        left -= k
    return _percentile_interval(np.concatenate(draws), float(diff.sum() / n.sum()), confidence, int(n.sum()))


def bootstrap_interval(
    n_items: int,
    statistic: Callable[[Any], float],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Percentile bootstrap interval of one condition's metric: `statistic(idx)` computes it on the
    resampled items."""
    return paired_bootstrap(n_items, statistic, n_resamples=n_resamples, seed=seed, confidence=confidence)
