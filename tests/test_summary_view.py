"""The terminal summary after `basesel baseline`."""

from __future__ import annotations

from basesel.gate import evaluate_gate


def summary_for(passed: int, scored: int) -> dict:
    gate = evaluate_gate(passed, scored).to_dict()
    counts = {"scenarios": scored, "responses": scored, "errored": 0, "truncated": 0, "scored": scored, "unscored": 0}
    return {"gate": gate, "counts": counts, "criteria": []}


def test_inconclusive_says_how_many_more_scenarios_would_settle_it(capsys, monkeypatch):
    from basesel.cli.summary_view import show_summary

    monkeypatch.setenv("COLUMNS", "300")
    summary = summary_for(8, 8)  # 100% of 8: the 95% interval (68-100%) crosses the 70% cut-off
    gate = summary["gate"]
    assert gate["inconclusive"] and gate["settle_at_n"] > gate["scored"]
    show_summary(summary)
    out = capsys.readouterr().out
    assert f"about {gate['settle_at_n']} scored scenarios would settle it at this rate ({gate['settle_at_n'] - 8} more)" in out
