"""The decision gate: pass rate, its 95% Wilson interval, the decision band, and when it is settled."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from .errors import ExitCode

CUTOFFS = (0.5, 0.7)
CONFIDENCE = 0.95


class Band(str, Enum):
    SUFFICIENT = "sufficient"
    FINE_TUNE = "fine_tune"
    FULL_PIPELINE = "full_pipeline"

    @property
    def label(self) -> str:
        return {"sufficient": "DEPLOY / QUALITATIVE REVIEW", "fine_tune": "FINE-TUNE", "full_pipeline": "FULL PIPELINE"}[self.value]

    @property
    def meaning(self) -> str:
        return {
            "sufficient": "Likely sufficient (>= 70%)",
            "fine_tune": "Moderate improvement possible (50-70%)",
            "full_pipeline": "Significant improvement needed (< 50%)",
        }[self.value]


def band_for(rate: float) -> Band:
    if rate >= CUTOFFS[1]:
        return Band.SUFFICIENT
    if rate >= CUTOFFS[0]:
        return Band.FINE_TUNE
    return Band.FULL_PIPELINE


def _z(confidence: float) -> float:
    # stdlib, not scipy: scipy.stats costs ~1 s of start-up for one quantile (tests cross-check with scipy)
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(successes: float, n: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval. Accepts a fractional success count, to project an observed rate onto a larger n."""
    if n <= 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def scenarios_to_settle(rate: float, confidence: float = CONFIDENCE, limit: int = 100_000) -> int | None:
    """Smallest n whose interval, at this observed rate, lies inside one band. None if it never does
    (the rate sits on a cut-off) within `limit`."""
    if any(abs(rate - c) < 1e-9 for c in CUTOFFS):
        return None

    def settled(n: int) -> bool:
        lo, hi = wilson_interval(rate * n, n, confidence)
        return band_for(lo) == band_for(hi) and not any(lo < c <= hi for c in CUTOFFS)

    if not settled(limit):
        return None
    lo_n, hi_n = 1, limit  # settled() is monotone in n for a fixed rate: binary search
    while lo_n < hi_n:
        mid = (lo_n + hi_n) // 2
        if settled(mid):
            hi_n = mid
        else:
            lo_n = mid + 1
    return lo_n


@dataclass
class GateResult:
    passed: int
    scored: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    band: Band | None
    inconclusive: bool
    settle_at_n: int | None  # total scored scenarios that would settle it at the observed rate

    @property
    def exit_code(self) -> ExitCode:
        if self.band is None:
            return ExitCode.NO_SCORED
        if self.inconclusive:
            return ExitCode.INCONCLUSIVE
        return {Band.SUFFICIENT: ExitCode.SUFFICIENT, Band.FINE_TUNE: ExitCode.FINE_TUNE, Band.FULL_PIPELINE: ExitCode.FULL_PIPELINE}[self.band]

    @property
    def decision(self) -> str:
        if self.band is None:
            return "NO DECISION (nothing scored)"
        return f"{self.band.label}{' (inconclusive)' if self.inconclusive else ''}"

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "scored": self.scored,
            "pass_rate": self.rate,
            "ci95": [self.ci_low, self.ci_high] if self.rate is not None else None,
            "band": self.band.value if self.band else None,
            "decision": self.decision,
            "inconclusive": self.inconclusive,
            "settle_at_n": self.settle_at_n,
            "exit_code": int(self.exit_code),
        }


def evaluate_gate(passed: int, scored: int, confidence: float = CONFIDENCE) -> GateResult:
    if scored == 0:
        return GateResult(0, 0, None, None, None, None, False, None)
    rate = passed / scored
    lo, hi = wilson_interval(passed, scored, confidence)
    inconclusive = band_for(lo) != band_for(hi)
    settle = scenarios_to_settle(rate, confidence) if inconclusive else None
    return GateResult(passed, scored, rate, lo, hi, band_for(rate), inconclusive, settle)


def final_decision(gate: dict, *, provisional: list[dict], safety: dict | None) -> dict:
    """The decision a user acts on: the pass-rate gate (`evaluate_gate(...).to_dict()`), overridden by
    what must change the next step. Precedence (errors.ExitCode): nothing scored, then a safety block,
    then a provisional judge, then inconclusive, then the band. Returns the fields merged into `gate`."""
    band_code = gate["exit_code"]
    decision = gate["decision"]
    blocked = bool(safety and safety.get("blocked"))
    code = band_code
    if gate["band"] is None:
        code = int(ExitCode.NO_SCORED)
    elif blocked:
        code = int(ExitCode.SAFETY_BLOCK)
        decision = f"SAFETY BLOCK: {', '.join(safety['blocking'])} breached; do not deploy (pass rate alone: {gate['decision']})"  # type: ignore[index]
    elif provisional:
        code = int(ExitCode.PROVISIONAL)
        decision = f"{gate['decision']} (provisional: {', '.join(r['code'] for r in provisional)})"
    return {
        "band_exit_code": band_code,
        "exit_code": code,
        "decision": decision,
        "provisional": bool(provisional) and gate["band"] is not None,
        "safety_blocked": blocked and gate["band"] is not None,
    }
