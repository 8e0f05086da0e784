"""Cost per call from the pinned, user-editable pricing table (configs/pricing.yaml).

The bundled table is a dated snapshot; `BASESEL_PRICING=/path/to/pricing.yaml` replaces it. A model with
no entry gets no cost (None, reported as unknown), never a guess.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from .base import Usage


@lru_cache(maxsize=4)
def _table(path: str) -> dict[str, dict[str, float]]:
    import yaml

    from ..errors import ConfigError

    hint = "Fix the file (models: {<name>: {input: <USD per 1M>, output: <USD per 1M>}}), or unset BASESEL_PRICING to use the bundled one."
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the pricing table {path}: {exc}", hint=hint) from exc
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ConfigError(f"the pricing table {path} has no 'models' mapping", hint=hint)
    table: dict[str, dict[str, float]] = {}
    for name, price in models.items():
        try:
            table[str(name)] = {"input": float(price["input"]), "output": float(price["output"])}
        except (TypeError, KeyError, ValueError) as exc:
            raise ConfigError(f"pricing entry '{name}' needs numeric 'input' and 'output' (USD per 1M tokens), got {price!r}", where=path, hint=hint) from exc
    return table


def pricing_path() -> str:
    from ..paths import bundled

    return os.environ.get("BASESEL_PRICING") or str(bundled("configs") / "pricing.yaml")


def price_for(model: str) -> dict[str, float] | None:
    """Exact name first, then the longest `prefix*` entry matching it."""
    table = _table(pricing_path())
    if model in table:
        return table[model]
    prefixes = [k for k in table if k.endswith("*") and model.startswith(k[:-1])]
    return table[max(prefixes, key=len)] if prefixes else None


def cost_usd(model: str, usage: Usage) -> float | None:
    """USD for one call, or None when the model has no price (unknown, never zero).

    `completion_tokens` is every generated token, thinking included (OpenAI's reasoning tokens and
    Anthropic's thinking are billed, and reported, as output); `thinking_tokens` is the part of them
    spent thinking, so it is not added a second time.
    """
    price = price_for(model)
    if price is None:
        return None
    return (usage.prompt_tokens * price["input"] + usage.completion_tokens * price["output"]) / 1_000_000
