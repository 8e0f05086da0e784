"""Sizes a run may take, and what it will cost in calls, said before anything is spent.

`-n` has an upper bound: scenarios are planned and written in memory, and each is at least two model
calls (an answer and a verdict). Past MAX_SCENARIOS the command refuses with the reason, instead of
growing a file until the disk fills. Before a run against a paid API, the number of calls it will make
is printed."""

from __future__ import annotations

from urllib.parse import urlparse

from ..errors import UsageError
from ..models.spec import parse_spec

# 100,000 template scenarios take ~30 MB and a few seconds to plan; a baseline on them is >= 200,000 calls.
MAX_SCENARIOS = 100_000
PAID_HOSTS = ("api.openai.com", "api.anthropic.com")


def check_scenario_count(n: int | None, flag: str = "-n") -> None:
    if n is not None and n > MAX_SCENARIOS:
        raise UsageError(
            f"{flag} {n:,} is above the limit of {MAX_SCENARIOS:,} scenarios: they are planned and written in memory, and a baseline on them "
            f"makes at least {2 * MAX_SCENARIOS:,} model calls",
            hint=f"Use {flag} {MAX_SCENARIOS:,} or fewer; for more, generate several files with different --seed values and run them as separate baselines.",
        )


def paid_api(spec: str, base_url: str | None) -> bool:
    """OpenAI or Anthropic proper (no base URL, or theirs): every call is billed."""
    parsed = parse_spec(spec, base_url)
    if parsed.provider not in ("openai", "anthropic"):
        return False
    return base_url is None or (urlparse(base_url).hostname or "").lower() in PAID_HOSTS


def call_plan(config, scenarios: int, *, max_scenarios: int | None = None) -> str | None:
    """A line saying how many calls a run makes to each paid API, or None when none is paid."""
    answers = scenarios * config.samples
    verdicts = answers * config.judge_samples
    most = verdicts * (1 + config.judge_retries)
    parts = []
    if paid_api(config.model, config.base_url):
        parts.append(f"{answers:,} answer calls to {config.model}")
    if paid_api(config.judge, config.judge_base_url):
        parts.append(f"{verdicts:,} verdict calls to {config.judge} (up to {most:,} if replies must be retried)")
    if not parts:
        return None
    line = f"paid API: this run makes {' and '.join(parts)}; answers already in the cache (BASESEL_CACHE_DIR) cost nothing"
    if max_scenarios and max_scenarios > scenarios:
        line += f". --until-decisive may grow it to {max_scenarios:,} scenarios ({max_scenarios * config.samples:,} answers, {max_scenarios * config.samples * config.judge_samples:,} verdicts)"
    return line + "."
