"""Cost per call from the pinned, user-editable pricing table (configs/pricing.yaml)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from .base import Usage


@lru_cache(maxsize=4)
def _table(path: str) -> dict[str, Any]:
    import yaml

    from ..errors import ConfigError

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the pricing table {path}: {exc}", hint="Fix the file, or unset BASESEL_PRICING to use the bundled one.") from exc
    return data.get("models") or {}


def pricing_path() -> str:
    from ..paths import bundled

    return os.environ.get("BASESEL_PRICING") or str(bundled("configs") / "pricing.yaml")


def price_for(model: str) -> dict[str, float] | None:
    table = _table(pricing_path())
    if model in table:
        return table[model]
    prefixes = [k for k in table if k.endswith("*") and model.startswith(k[:-1])]
    return table[max(prefixes, key=len)] if prefixes else None


def cost_usd(model: str, usage: Usage) -> float | None:
    """None when the model has no price: unknown is reported as unknown, never as zero."""
    price = price_for(model)
    if price is None:
        return None
    return (usage.prompt_tokens * price["input"] + (usage.completion_tokens + usage.thinking_tokens) * price["output"]) / 1_000_000
