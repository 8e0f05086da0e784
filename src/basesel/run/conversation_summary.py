"""The multi-turn part of a run's summary: stop reasons, turns, simulator failures, and the single-turn
and multi-turn pass rates side by side (the same scenarios, paired), with the conversations where the
two disagree quoted."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from ..gate import evaluate_gate
from .conversation import SIMULATOR_ERROR
from .files import read_jsonl

QUOTE_TURN_CHARS = 300
MAX_DISAGREEMENTS = 3


def _rate(passed: int, total: int) -> dict[str, Any]:
    g = evaluate_gate(passed, total)
    return {"passed": passed, "scored": total, "pass_rate": g.rate, "ci95": [g.ci_low, g.ci_high], "band": g.band.value if g.band else None}


def _short(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= QUOTE_TURN_CHARS else text[:QUOTE_TURN_CHARS].rstrip() + " ..."


def multi_turn_summary(run_dir: Path, responses: dict[tuple[str, int], dict[str, Any]], assessments: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any] | None:
    """None for a single-turn run (no response carries turns)."""
    convs = [r for r in responses.values() if r.get("turns") is not None]
    if not convs:
        return None
    stop = Counter(r.get("stop_reason") or "candidate_error" for r in convs)
    lengths = [len(r["turns"]) for r in convs if "error" not in r]
    sim_errors = [r for r in convs if r.get("stop_reason") == SIMULATOR_ERROR]
    out: dict[str, Any] = {
        "conversations": len(convs),
        "stop_reasons": dict(stop),
        "turns": {"mean": round(statistics.fmean(lengths), 2) if lengths else None, "min": min(lengths, default=None), "max": max(lengths, default=None)},
        "planned_turns_mean": round(statistics.fmean(r.get("max_turns") or 0 for r in convs), 2),
        "simulator_errors": len(sim_errors),
        "simulator_error_examples": sorted({r.get("simulator_error", "") for r in sim_errors})[:3],
        "warnings": [],
    }
    if sim_errors:
        out["warnings"].append(
            f"{len(sim_errors)} conversations were cut short because the simulated user failed ({out['simulator_error_examples'][0]}); "
            "they are not graded (never counted against the candidate). Re-run with the same --out to continue them."
        )
    out["side_by_side"] = _side_by_side(run_dir, responses, assessments)
    return out


def _side_by_side(run_dir: Path, responses: dict[tuple[str, int], dict[str, Any]], assessments: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any] | None:
    single: dict[tuple[str, int], dict[str, Any]] = {}
    for r in read_jsonl(run_dir / "single_turn.jsonl"):
        single[(r["scenario_id"], r["sample"])] = r
    pairs = [(k, single[k], a) for k, a in assessments.items() if a.get("scored") and k in single and single[k].get("scored")]
    if not pairs:
        return None
    s_pass = [bool(s["passed"]) for _, s, _ in pairs]
    m_pass = [bool(m["passed"]) for _, _, m in pairs]
    from ..stats import mcnemar

    test = mcnemar(s_pass, m_pass)
    disagreements = []
    # passed alone but failed over the conversation first: the failure single-turn runs hide
    ordered = sorted(pairs, key=lambda p: (not (p[1]["passed"] and not p[2]["passed"]), p[0]))
    for key, s, m in ordered:
        if bool(s["passed"]) == bool(m["passed"]) or len(disagreements) >= MAX_DISAGREEMENTS:
            continue
        resp = responses.get(key, {})
        disagreements.append(
            {
                "scenario_id": key[0],
                "single_turn": "pass" if s["passed"] else "fail",
                "multi_turn": "pass" if m["passed"] else "fail",
                "failed_single": [c["id"] for c in s["criteria"] if c["passed"] is False],
                "failed_multi": [c["id"] for c in m["criteria"] if c["passed"] is False],
                "reasons_multi": [{"id": c["id"], "reason": _short(c.get("reason", ""))} for c in m["criteria"] if c["passed"] is False][:3],
                "stop_reason": resp.get("stop_reason"),
                "transcript": [{"turn": t["turn"], "user": _short(t["user"]), "assistant": _short(t.get("answer") or "")} for t in resp.get("turns") or []],
            }
        )
    return {
        "paired": len(pairs),
        "single_turn": _rate(sum(s_pass), len(pairs)),
        "multi_turn": _rate(sum(m_pass), len(pairs)),
        "single_only": sum(1 for a, b in zip(s_pass, m_pass) if a and not b),
        "multi_only": sum(1 for a, b in zip(s_pass, m_pass) if b and not a),
        "mcnemar": test.to_dict(),
        "disagreements": disagreements,
    }
