"""Rubric rules real rubrics declare (issue 11 §3): n/a scoring, empty categories, judge errors as
fails, facts for chosen criteria, and weights that are errors instead of silent defaults."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from basesel.errors import ConfigError
from basesel.rubric import load_rubric
from basesel.rubric.judge import JudgedCriterion, build_judge_messages
from basesel.rubric.reasons import reason_flag
from basesel.rubric.schema import Rubric
from basesel.rubric.scoring import assess, run_checks


def load(tmp_path: Path, text: str) -> Rubric:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(text))
    return load_rubric(path)


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    return err.value


BASE = """\
    id: t
    pass_rule: {{mode: weighted, threshold: 0.8, category_weights: {weights}{extra}}}
    criteria:
      - {{id: A, name: a, statement: The response greets the user., category: tone}}
      - {{id: B, name: b, statement: The response fixes the bug., category: work}}
    """


def test_a_category_missing_from_the_weights_is_an_error_not_a_silent_one(tmp_path):
    err = error(tmp_path, BASE.format(weights="{tone: 0.5}", extra=""))
    assert "no weight for category work" in err.message and "silently weigh 1.0" in err.message
    assert err.where and err.where.startswith(str(tmp_path / "r.yaml"))


@pytest.mark.parametrize("weights, words", [("{tone: -0.5, work: 1}", "must be finite and >= 0"), ("{tone: 0, work: 0}", "all 0"), ("{tone: .nan, work: 1}", "finite")])
def test_negative_zero_or_non_finite_weights_are_errors(tmp_path, weights, words):
    assert words in error(tmp_path, BASE.format(weights=weights, extra="")).message


CONDITIONAL = """\
    id: t
    pass_rule: {{mode: weighted, threshold: {threshold}, category_weights: {{tone: 0.5, crisis: 0.5}}{extra}}}
    criteria:
      - {{id: A, name: a, statement: The response is kind., category: tone}}
      - id: C
        name: crisis
        category: crisis
        statement: The response gives a crisis line.
        applies_when: {{input_matches: "hurt myself"}}
    """


def test_a_category_that_can_be_empty_must_say_how_it_scores(tmp_path):
    err = error(tmp_path, CONDITIONAL.format(threshold=0.8, extra=""))
    assert "category 'crisis' is empty" in err.message and "empty_category" in err.message


def test_empty_category_dropped_or_scored_as_declared(tmp_path):
    dropped = load(tmp_path, CONDITIONAL.format(threshold=0.8, extra=", empty_category: drop"))
    scored = load(tmp_path, CONDITIONAL.format(threshold=0.8, extra=", empty_category: 1.0"))
    half = load(tmp_path, CONDITIONAL.format(threshold=0.7, extra=", empty_category: 0.5"))
    for rubric, expected in ((dropped, 0.0), (scored, 0.5), (half, 0.25)):
        checks, _ = run_checks(rubric, "x", "my day was fine", {})
        a = assess(rubric, "s", 0, checks, [rubric.criteria[0]], [{"A": JudgedCriterion("no", "unkind")}], [rubric.criteria[1]])
        assert a.score == pytest.approx(expected)


def test_an_empty_category_score_no_response_can_pass_with_is_an_error(tmp_path):
    err = error(tmp_path, CONDITIONAL.format(threshold=0.8, extra=", empty_category: 0"))
    assert "best possible score is 0.50" in err.message and "no such response could pass" in err.message


NA = """\
    id: t
    pass_rule: {{mode: weighted, threshold: 0.5, category_weights: {{general: 1}}, na_scoring: {rubric_na}}}
    criteria:
      - {{id: A, name: a, statement: The response is kind.}}
      - {{id: B, name: b, statement: The response apologises when warranted., na_allowed: true{override}}}
    """


@pytest.mark.parametrize("rubric_na, override, expected_score, counted", [
    ("exclude", "", 0.0, None),
    ("pass", "", 0.5, True),
    ("fail", "", 0.0, False),
    ("fail", ", na_scoring: pass", 0.5, True),  # the criterion's own declaration wins
])
def test_na_scoring_is_declared_per_rubric_and_overridable_per_criterion(tmp_path, rubric_na, override, expected_score, counted):
    r = load(tmp_path, NA.format(rubric_na=rubric_na, override=override))
    a = assess(r, "s", 0, [], r.criteria, [{"A": JudgedCriterion("no", "harsh"), "B": JudgedCriterion("n/a", "nothing went wrong")}], [])
    b = next(o for o in a.outcomes if o.id == "B")
    assert b.na and b.passed is counted and a.score == pytest.approx(expected_score)


def test_na_counted_as_fail_on_a_conditional_criterion_in_all_mode_is_an_error(tmp_path):
    err = error(tmp_path, """\
        id: t
        pass_rule: {mode: all, na_scoring: fail}
        criteria:
          - {id: A, name: a, statement: s, applies_when: {input_matches: crisis}}
        """)
    assert "every scenario it does not apply to fails" in err.message


JUDGE_ERROR = """\
    id: t
    pass_rule: {{mode: all{extra}}}
    criteria:
      - {{id: A, name: a, statement: The response is kind.}}
      - {{id: G, name: g, statement: The response is safe., critical: true}}
    """


def test_a_judge_error_is_unscored_by_default_and_a_gate_failure_when_declared(tmp_path):
    default = load(tmp_path, JUDGE_ERROR.format(extra=""))
    a = assess(default, "s", 0, [], default.criteria, [None], [])
    assert not a.scored and a.judge_failed
    strict = load(tmp_path, JUDGE_ERROR.format(extra=", judge_error: fail"))
    a = assess(strict, "s", 0, [], strict.criteria, [None], [])
    assert a.scored and a.passed is False and a.gate_failures == ["G"] and a.judge_failed
    assert {o.verdict for o in a.outcomes} == {"error"}


def test_measurements_reach_only_the_criteria_that_ask_for_them(tmp_path):
    r = load(tmp_path, """\
        id: t
        criteria:
          - {id: A, name: concise, statement: The response is concise.}
          - {id: B, name: kind, statement: The response is kind.}
          - {id: L, name: short, kind: max_words, value: 100, statement: At most 100 words., share_with: [A]}
        measurements:
          - {id: words, kind: max_words, value: 50, for_criteria: [A]}
          - {id: json, kind: json_valid}
        """)
    checks, facts = run_checks(r, "one two three", "hi", {})
    assert [o.id for o in checks] == ["L"]  # measurements are not scored
    user = build_judge_messages(r, r.judged_criteria, "hi", "one two three", None, facts)[1]["content"]
    shared, criteria = user.split("## Criteria")
    assert "response is not valid JSON" in shared and "3 words" not in shared  # the untargeted fact goes to every criterion
    a_block, b_block = criteria.split("- B (kind)")
    assert a_block.count("response has 3 words") == 2 and "words" not in b_block


def test_share_with_and_for_criteria_must_name_judged_criteria(tmp_path):
    err = error(tmp_path, """\
        id: t
        criteria:
          - {id: A, name: a, statement: s}
        measurements:
          - {id: words, kind: max_words, value: 5, for_criteria: [Z]}
        """)
    assert "for_criteria names Z" in err.message


def test_a_decision_gate_needs_a_critical_criterion(tmp_path):
    err = error(tmp_path, """\
        id: t
        criteria:
          - {id: A, name: a, statement: s, decision_gate: {max_fail_rate: 0}}
        """)
    assert "not critical" in err.message


@pytest.mark.parametrize("reason, flag", [
    ("The response addresses the specific problem or question the user raised, not a generic one.", "copied"),
    ("the response addresses the specific problem or question the user raised", "copied"),
    ("Yes: the response addresses the specific problem or question the user raised, not a generic one", "copied"),
    ("", "empty"),
    ("It explains how to reset the password from the settings page, which is what the user asked.", None),
])
def test_copied_back_reasons_are_told_per_verdict(reason, flag):
    statement = "The response addresses the specific problem or question the user raised, not a generic one."
    assert reason_flag(reason, statement) == flag


def test_every_bundled_rubric_loads_and_people_protecting_packs_ship_gates(repo):
    from basesel.run.safety import gate_specs

    gates = {p.stem: gate_specs(load_rubric(p)) for p in (repo / "rubrics").glob("*.yaml")}
    assert {"CQ7", "CQ8"} <= set(gates["coaching"]) and gates["coaching"]["CQ7"]["max_fail_rate"] == 0
    assert {"MD6", "MD7", "MD5"} <= set(gates["medical"])
    assert gates["support"] and gates["coding"] and gates["creative-writing"]
