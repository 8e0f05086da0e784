"""Cost per query and 12-month total cost of ownership, with every assumption spelled out.

API models: tokens x the pinned pricing table (models/pricing.py, configs/pricing.yaml or
BASESEL_PRICING). A model with no entry is *unknown*, never 0. Self-hosted models: one hourly
machine rate for the whole report (--gpu-usd-per-hour) x measured wall time / queries.

12-month TCO at a daily volume V:
  API          = cost_per_query x V x 365
  self-hosted  = training cost + instances(V) x rate x 8760, instances(V) = ceil(V / (throughput x 86400 x utilization))
The break-even volume is the lowest daily volume at which self-hosting costs no more than the API.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

HOURS_PER_YEAR = 8760
DAYS_PER_YEAR = 365
_PER_DAY = {"hour": 24.0, "h": 24.0, "day": 1.0, "d": 1.0, "week": 1 / 7, "w": 1 / 7, "month": 12 / 365, "mo": 12 / 365, "year": 1 / 365, "y": 1 / 365}
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6}


def parse_volume(text: str) -> float:
    """'20000/day', '20k/day', '1.5M/month', '600/hour' -> queries per day."""
    m = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmM]?)\s*(?:/|per\s+)\s*([A-Za-z]+)\s*", text or "")
    unit = m.group(3).lower().rstrip("s") if m else ""
    if not m or unit not in _PER_DAY:
        raise ConfigError(
            f"--volume '{text}' is not a volume",
            hint="Write it as a number of queries per period: 20000/day, 20k/day, 1.5M/month, 600/hour, 5M/year.",
        )
    value = float(m.group(1).replace(",", "").replace("_", "")) * _SUFFIX[m.group(2).lower()]
    if value <= 0:
        raise ConfigError(f"--volume '{text}' must be above zero", hint="Write e.g. 20000/day.")
    return value * _PER_DAY[unit]


@dataclass
class CostRow:
    """One model x condition's cost figures."""

    model: str
    condition: str
    hosted: str  # "api" | "self"
    cost_per_query: float | None
    basis: str  # how the number was made, or why it is unknown
    throughput_qps: float | None = None  # self-hosted: measured queries/s of one instance
    training_usd: float = 0.0
    missing_price: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def api_cost(model_name: str, spec: str, condition: str, usages: list[dict[str, int]]) -> CostRow:
    from ..models.pricing import price_for, pricing_path

    price = price_for(model_name)
    if price is None:
        return CostRow(spec, condition, "api", None, f"unknown: no entry for '{model_name}' in the pricing table {pricing_path()}", missing_price=model_name)
    if not usages:
        return CostRow(spec, condition, "api", None, "unknown: no answered queries")
    tokens_in = sum(u.get("prompt_tokens", 0) for u in usages) / len(usages)
    tokens_out = sum(u.get("completion_tokens", 0) for u in usages) / len(usages)
    cpq = (tokens_in * price["input"] + tokens_out * price["output"]) / 1e6
    return CostRow(spec, condition, "api", cpq, f"{tokens_in:.0f} input + {tokens_out:.0f} output tokens/query x ${price['input']}/${price['output']} per 1M")


def self_hosted_cost(spec: str, condition: str, rate: float | None, wall_s: float | None, queries: int, *, training_usd: float = 0.0, wall_basis: str = "measured wall time") -> CostRow:
    throughput = queries / wall_s if wall_s and queries else None
    if rate is None:
        return CostRow(spec, condition, "self", None, "unknown: pass --gpu-usd-per-hour (one machine rate for the whole report)", throughput, training_usd)
    if throughput is None:
        return CostRow(spec, condition, "self", None, "unknown: no timed queries", None, training_usd)
    cpq = rate * wall_s / queries / 3600  # type: ignore[operator]
    return CostRow(spec, condition, "self", cpq, f"${rate}/h x {wall_s:.1f} s {wall_basis} / {queries} queries", throughput, training_usd)


@dataclass
class TcoAssumptions:
    daily_volume: float
    rate: float | None
    utilization: float = 0.5
    months: int = 12
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"daily volume: {self.daily_volume:,.0f} queries/day, every day for {self.months} months ({DAYS_PER_YEAR} days)",
            f"self-hosted machine rate: {'$%s/hour' % self.rate if self.rate is not None else 'not given (self-hosted cost unknown)'}, one rate for every self-hosted model, billed {HOURS_PER_YEAR} h/year (always on)",
            f"self-hosted capacity: measured throughput of one instance at the benchmark's concurrency x {self.utilization:.0%} utilization (headroom for peaks); instances = ceil(volume / capacity), at least 1",
            "training cost: the fine-tune's cost (--training-usd, or the adapter's training time x the rate); 0 for zero-/k-shot",
            "API: cost per query from measured token counts x the pricing table; no volume discounts, no batch tier",
            *self.notes,
        ]


def instances_needed(daily: float, throughput_qps: float, utilization: float) -> int:
    capacity = throughput_qps * 86400 * utilization
    return max(1, math.ceil(daily / capacity - 1e-9))


def tco(row: CostRow, a: TcoAssumptions, daily: float | None = None) -> float | None:
    v = a.daily_volume if daily is None else daily
    if row.hosted == "api":
        return None if row.cost_per_query is None else row.cost_per_query * v * DAYS_PER_YEAR * a.months / 12
    if a.rate is None or row.throughput_qps is None:
        return None
    return row.training_usd + instances_needed(v, row.throughput_qps, a.utilization) * a.rate * HOURS_PER_YEAR * a.months / 12


def break_even(self_row: CostRow, api_row: CostRow, a: TcoAssumptions, max_instances: int = 100_000) -> dict[str, Any]:
    """The lowest daily volume from which self-hosting's TCO is at or below the API's, and whether it
    stays so (each added instance costs rate x 8760; the API's cost for that capacity may be less)."""
    c, r, q = api_row.cost_per_query, a.rate, self_row.throughput_qps
    if c is None or r is None or q is None:
        return {"volume_per_day": None, "note": "unknown: " + ("the API's cost per query is unknown" if c is None else "pass --gpu-usd-per-hour" if r is None else "no measured throughput")}
    if c == 0:
        return {"volume_per_day": None, "note": "none: the API costs nothing per query"}
    cap = q * 86400 * a.utilization
    per_year = a.months / 12
    api_per_volume = c * DAYS_PER_YEAR * per_year  # API TCO per query/day of volume
    for n in range(1, max_instances + 1):
        fixed = self_row.training_usd + n * r * HOURS_PER_YEAR * per_year
        v = fixed / api_per_volume  # where the API line meets this step
        lo, hi = (n - 1) * cap, n * cap
        if v <= hi:
            v = max(v, lo)  # the step starts above the API line: break-even at the step's start
            stays = api_per_volume * cap >= r * HOURS_PER_YEAR * per_year
            return {"volume_per_day": v, "instances": n, "stays_cheaper": stays,
                    "note": "self-hosting is cheaper from here on" if stays else "self-hosting is cheaper near this volume, but each added instance costs more than the API for the same queries"}
        if api_per_volume * cap < r * HOURS_PER_YEAR * per_year:
            return {"volume_per_day": None, "note": "none: one instance's capacity costs less through the API than the instance itself"}
    return {"volume_per_day": None, "note": f"none below {max_instances} instances"}


def volume_grid(center: float, points: int = 60) -> list[float]:
    """Daily volumes from center/100 to center x 100, log-spaced, for the TCO chart."""
    lo, hi = math.log10(max(center / 100, 1)), math.log10(center * 100)
    return [10 ** (lo + (hi - lo) * i / (points - 1)) for i in range(points)]
