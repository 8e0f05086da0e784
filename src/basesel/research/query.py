"""What the user asked for: size range, domain, context need, licence, local-run requirements."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional

from ..errors import ConfigError

TOKENS_PER_MESSAGE = 200
"""The method's sizing rule: context needed = turns x 2 messages x ~200 tokens."""

LicencePolicy = Literal["any", "commercial", "permissive"]
LICENCE_POLICIES = ("any", "commercial", "permissive")

_NUM = r"(\d+(?:\.\d+)?)\s*([kmbt]?)"
_UNITS = {"": 1.0, "b": 1.0, "m": 1e-3, "k": 1e-6, "t": 1e3}


def parse_params(text: str, flag: str = "--min-params") -> float:
    """'7', '7B', '7.5b', '500M', '135m' -> billions."""
    m = re.fullmatch(_NUM, text.strip().lower())
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{flag}: cannot read a parameter count from '{text}'", hint=f"Write it like 7B, 7.5B or 500M, e.g. {flag} 7B.")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_size(text: str) -> tuple[Optional[float], Optional[float]]:
    """'7-10B', '0.5B-3B', '500M-2B', '<=4B', '>=7B', '8B' (about 8B: 0.75x-1.25x) -> (min, max) billions."""
    raw = text.strip().lower().replace(" ", "").replace("–", "-")
    hint = "Examples: --size 7-10B, --size 1-4B, --size 500M-2B, --size '<=4B', --size '>=14B', --size 8B (about 8B, ±25%)."
    if not raw:
        raise ConfigError("--size is empty", hint=hint)
    m = re.fullmatch(r"(<=|>=|<|>)" + _NUM, raw)
    if m:
        value = float(m.group(2)) * _UNITS[m.group(3) or "b"]
        return (None, value) if m.group(1).startswith("<") else (value, None)
    m = re.fullmatch(_NUM + r"-" + _NUM, raw)
    if m:
        hi_unit = m.group(4) or "b"
        lo = float(m.group(1)) * _UNITS[m.group(2) or hi_unit]
        hi = float(m.group(3)) * _UNITS[hi_unit]
        if lo > hi:
            raise ConfigError(f"--size '{text}': the lower bound is above the upper bound", hint=hint)
        return lo, hi
    m = re.fullmatch(_NUM, raw)
    if m and float(m.group(1)) > 0:
        value = float(m.group(1)) * _UNITS[m.group(2) or "b"]
        return round(value * 0.75, 4), round(value * 1.25, 4)
    raise ConfigError(f"--size: cannot read a parameter range from '{text}'", hint=hint)


def parse_tokens(text: str) -> int:
    """'8192', '8k', '32K', '128k', '1M' -> tokens (k = 1024)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([km]?)", text.strip().lower())
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"--context: cannot read a token count from '{text}'", hint="Write it like 8192, 8k or 128K.")
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2)]
    return int(float(m.group(1)) * scale)


def fmt_b(value: float) -> str:
    """8.0 -> '8B', 0.5 -> '500M', 7.61 -> '7.61B'."""
    if value < 1:
        return f"{value * 1000:g}M"
    return f"{value:g}B"


@dataclass
class Query:
    domain: str = "custom"
    min_params_b: Optional[float] = None
    max_params_b: Optional[float] = None
    context_needed: Optional[int] = None
    turns: Optional[int] = None
    license: LicencePolicy = "any"
    gguf: bool = False
    ollama: bool = False
    top: int = 10
    online: bool = False
    search: list[str] = field(default_factory=list)
    domain_input: Optional[str] = None
    """What the user typed for --domain (an alias, say), for the record."""
    topic: Optional[str] = None
    """What the project is about, in the user's words ("legal contract review"): fills the web queries'
    [domain] slot, over the domain's own topic (the custom domain has none)."""

    def __post_init__(self) -> None:
        if self.license not in LICENCE_POLICIES:
            raise ConfigError(f"--license must be one of {', '.join(LICENCE_POLICIES)}, got '{self.license}'", hint="commercial = commercial use allowed (conditions may apply); permissive = no conditions; any = no licence filter.")
        if self.min_params_b is not None and self.max_params_b is not None and self.min_params_b > self.max_params_b:
            raise ConfigError(
                f"--min-params {fmt_b(self.min_params_b)} is above --max-params {fmt_b(self.max_params_b)}",
                hint="Swap them, or use --size LOW-HIGH, e.g. --size 7-10B.",
            )
        if self.top < 1:
            raise ConfigError("--top must be at least 1", hint="e.g. --top 10 (the method suggests 8-12 candidates).")

    @property
    def size_label(self) -> Optional[str]:
        lo, hi = self.min_params_b, self.max_params_b
        if lo is None and hi is None:
            return None
        if lo is None:
            return f"<= {fmt_b(hi)}"
        if hi is None:
            return f">= {fmt_b(lo)}"
        return f"{fmt_b(lo)}-{fmt_b(hi)}"

    @property
    def context_label(self) -> Optional[str]:
        if self.context_needed is None:
            return None
        if self.turns is not None:
            return f"{self.context_needed:,} tokens ({self.turns} turns x 2 x {TOKENS_PER_MESSAGE})"
        return f"{self.context_needed:,} tokens"

    def record(self) -> dict[str, Any]:
        """The inputs as research.json's `query`: unset options are None (the decision doc skips them)."""
        raw = asdict(self)
        data: dict[str, Any] = {"domain": self.domain, "size": self.size_label}
        for key in ("min_params_b", "max_params_b", "context_needed", "turns", "license", "top"):
            data[key] = raw[key]
        for flag in ("gguf", "ollama", "online"):
            data[flag] = True if raw[flag] else None
        data["search"] = list(self.search) or None
        if self.domain_input not in (None, self.domain):
            data["domain_input"] = self.domain_input
        data["topic"] = self.topic
        return data


def context_from_turns(turns: int) -> int:
    return turns * 2 * TOKENS_PER_MESSAGE
