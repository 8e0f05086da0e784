"""The pinned pricing table: dated, user-overridable, unknown prices stay unknown."""

from __future__ import annotations

import pytest
import yaml

from basesel.models.base import Usage
from basesel.models.pricing import cost_usd, price_for, pricing_path


def test_bundled_table_is_a_dated_snapshot():
    data = yaml.safe_load(open(pricing_path(), encoding="utf-8"))
    assert str(data["as_of"])[:4].isdigit() and data["source"]
    assert all(set(p) == {"input", "output"} for p in data["models"].values())


def test_exact_and_prefix_prices_and_unknown_models():
    assert price_for("gpt-4o-mini") == {"input": 0.15, "output": 0.60}
    assert price_for("gpt-4o") == {"input": 2.50, "output": 10.00}  # exact, not the gpt-4o-mini entry
    assert price_for("claude-3-5-haiku-20241022") == {"input": 0.80, "output": 4.00}  # prefix entry
    assert price_for("my-finetune") is None
    assert cost_usd("my-finetune", Usage(100, 100)) is None  # unknown, never zero


def test_thinking_tokens_are_part_of_the_output_and_billed_once():
    usage = Usage(prompt_tokens=1000, completion_tokens=500, thinking_tokens=300)
    assert cost_usd("gpt-4o-mini", usage) == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)


def test_user_table_replaces_the_bundled_one(tmp_path, monkeypatch):
    table = tmp_path / "prices.yaml"
    table.write_text("as_of: '2030-01-01'\nmodels:\n  my-finetune: {input: 1, output: 2}\n")
    monkeypatch.setenv("BASESEL_PRICING", str(table))
    assert cost_usd("my-finetune", Usage(1_000_000, 500_000)) == pytest.approx(2.0)
    assert price_for("gpt-4o-mini") is None


def test_broken_user_table_is_a_clear_error(tmp_path, monkeypatch):
    from basesel.errors import ConfigError

    table = tmp_path / "prices.yaml"
    table.write_text("models:\n  gpt-x: {input: 1}\n")
    monkeypatch.setenv("BASESEL_PRICING", str(table))
    with pytest.raises(ConfigError) as err:
        price_for("gpt-x")
    assert "gpt-x" in err.value.message and "output" in err.value.message and err.value.where == str(table)
    monkeypatch.setenv("BASESEL_PRICING", str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="cannot read the pricing table"):
        price_for("gpt-x")
