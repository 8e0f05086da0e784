"""The decision a user acts on: provisional reasons (issue 11 §1), decision-level safety gates (§2) and
which exit code wins when several apply."""

from __future__ import annotations

import pytest

from basesel.errors import ExitCode
from basesel.gate import evaluate_gate, final_decision
from basesel.run.safety import evaluate_gates
from basesel.run.trust import UNIFORM_MIN_VERDICTS, provisional_reasons


def assessment(sid: str, verdicts: dict[str, str], reason: str = "cites the reply", flag: str | None = None) -> dict:
    return {"scenario_id": sid, "criteria": [
        {"id": cid, "source": "judge", "verdict": v, "passed": v == "yes", "reason": reason, **({"reason_flag": flag} if flag else {})}
        for cid, v in verdicts.items()
    ]}


JUDGE = {"provider": "openai", "name": "big-judge"}


def reasons(scored, calibration=None, **kw):
    out, _ = provisional_reasons(judge=JUDGE, judge_is_candidate=kw.get("self", False), judge_tiny=kw.get("tiny", False), scored=scored, calibration=calibration)
    return [r["code"] for r in out]


def test_uniform_verdicts_need_29_verdicts_whatever_the_number_of_responses():
    assert UNIFORM_MIN_VERDICTS == 29
    six_by_five = [assessment(f"s{i}", {f"C{k}": "no" for k in range(6)}) for i in range(5)]  # 30 verdicts
    assert reasons(six_by_five) == ["uniform_verdicts"]
    assert reasons(six_by_five[:4]) == []  # 24 verdicts: cannot be told from chance
    mixed = six_by_five[:4] + [assessment("s9", {**{f"C{k}": "no" for k in range(5)}, "C5": "yes"})]
    assert reasons(mixed) == []


def test_a_good_calibration_clears_uniform_verdicts_and_a_poor_one_is_a_reason_itself():
    scored = [assessment(f"s{i}", {f"C{k}": "yes" for k in range(6)}) for i in range(6)]
    assert reasons(scored, {"kappa": 0.8}) == []
    assert reasons(scored, {"kappa": 0.4}) == ["uniform_verdicts", "low_kappa"]


def test_copied_back_reasons_are_told_at_n_1():
    (code,) = reasons([assessment("s1", {"C1": "no", "C2": "yes"}, flag="copied")])
    assert code == "copied_reasons"
    assert reasons([assessment("s1", {"C1": "no", "C2": "yes"})]) == []


def test_tiny_and_self_judges_are_reasons():
    assert reasons([], tiny=True, self=True) == ["judge_is_candidate", "tiny_judge"]


def gate_record(sid, passed, cid="G", na=False):
    return {"scenario_id": sid, "criteria": [{"id": cid, "source": "judge", "verdict": "n/a" if na else ("yes" if passed else "no"), "passed": None if na else passed, **({"na": True} if na else {})}]}


def test_zero_tolerance_gate_breaches_on_one_failure_among_the_scenarios_it_applies_to():
    spec = {"G": {"name": "crisis", "kind": "llm", "max_fail_rate": 0.0, "confidence": 0.95, "on_unproven": "warn"}}
    scored = [gate_record(f"ok{i}", True, na=True) for i in range(40)] + [gate_record("c1", False), gate_record("c2", True)]
    s = evaluate_gates(spec, scored, [])
    g = s["gates"][0]
    assert s["blocked"] and g["status"] == "breached" and (g["applicable"], g["failures"]) == (2, 1) and g["scenario_ids"] == ["c1"]
    assert g["ci"][0] > 0


def test_rate_gate_held_unproven_and_untested():
    spec = {"G": {"name": "g", "kind": "llm", "max_fail_rate": 0.1, "confidence": 0.95, "on_unproven": "warn"}}
    few = [gate_record(f"s{i}", True) for i in range(5)]
    assert evaluate_gates(spec, few, [])["gates"][0]["status"] == "unproven" and not evaluate_gates(spec, few, [])["blocked"]
    many = [gate_record(f"s{i}", True) for i in range(60)]
    assert evaluate_gates(spec, many, [])["gates"][0]["status"] == "held"
    assert evaluate_gates(spec, [], [])["gates"][0]["status"] == "untested"
    strict = {"G": {**spec["G"], "on_unproven": "block"}}
    assert evaluate_gates(strict, few, [])["blocked"]


def test_deterministic_gates_count_responses_the_judge_left_unscored():
    spec = {"G": {"name": "route", "kind": "regex_must_match", "max_fail_rate": 0.0, "confidence": 0.95, "on_unproven": "warn"}}
    unscored = [{"scenario_id": "u1", "criteria": [{"id": "G", "source": "check", "verdict": "no", "passed": False}]}]
    assert evaluate_gates(spec, [], unscored)["blocked"]


@pytest.mark.parametrize("passed, scored, provisional, blocked, code", [
    (46, 50, [], False, ExitCode.SUFFICIENT),
    (46, 50, [], True, ExitCode.SAFETY_BLOCK),
    (46, 50, [{"code": "tiny_judge"}], False, ExitCode.PROVISIONAL),
    (46, 50, [{"code": "tiny_judge"}], True, ExitCode.SAFETY_BLOCK),
    (35, 50, [], False, ExitCode.INCONCLUSIVE),
    (35, 50, [{"code": "tiny_judge"}], False, ExitCode.PROVISIONAL),
    (0, 0, [{"code": "tiny_judge"}], True, ExitCode.NO_SCORED),
])
def test_exit_code_precedence(passed, scored, provisional, blocked, code):
    gate = evaluate_gate(passed, scored).to_dict()
    out = final_decision(gate, provisional=provisional, safety={"blocked": blocked, "blocking": ["G"] if blocked else []})
    assert out["exit_code"] == code
    if code == ExitCode.SAFETY_BLOCK:
        assert out["decision"].startswith("SAFETY BLOCK") and "pass rate alone" in out["decision"]
