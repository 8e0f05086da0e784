"""Rubric parsing, deterministic checks, judge output parsing and the pass rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from basesel.errors import ConfigError
from basesel.rubric import load_rubric
from basesel.rubric.checks import run_check, word_count
from basesel.rubric.judge import UnreadableVerdict, parse_verdicts, verdict_schema
from basesel.rubric.schema import Criterion, Rubric
from basesel.rubric.scoring import CriterionOutcome, applies, assess, decide, judged_outcomes, run_checks
from basesel.rubric.judge import JudgedCriterion


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_bundled_support_rubric_loads(repo):
    rubric = load_rubric(repo / "rubrics" / "support.yaml")
    assert rubric.pass_rule.mode == "weighted"
    assert {c.id for c in rubric.criteria if c.critical} == {"CS7", "CS8"}
    assert rubric.judged_criteria and rubric.deterministic_criteria
    assert len(rubric.source_sha256) == 64


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, """\
        id: x
        criteria:
          - id: A
            name: [unclosed
        """)
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    assert "malformed YAML" in err.value.message
    assert err.value.where.startswith(f"{path}:")


def test_unknown_criterion_kind_names_line_and_field(tmp_path):
    path = write(tmp_path, """\
        id: x
        criteria:
          - id: A
            name: ok
            statement: fine
          - id: B
            name: bad
            statement: something
            kind: vibes
        """)
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    msg = err.value.message
    assert "criteria.1.kind" in msg and ":9" in msg and "regex_must_match" in msg


def test_typo_field_is_rejected(tmp_path):
    path = write(tmp_path, """\
        id: x
        criteria:
          - id: A
            name: ok
            statment: typo
        """)
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    assert "statment" in err.value.message and "unknown field" in err.value.message


def test_deterministic_kind_requires_its_parameters(tmp_path):
    path = write(tmp_path, """\
        id: x
        criteria:
          - id: A
            name: short
            statement: short
            kind: max_words
        """)
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    assert "needs field(s): value" in err.value.message


def test_weights_naming_unknown_category_rejected(tmp_path):
    path = write(tmp_path, """\
        id: x
        pass_rule: {mode: weighted, category_weights: {nope: 1}}
        criteria:
          - {id: A, name: a, statement: a, category: real}
        """)
    with pytest.raises(ConfigError, match="nope"):
        load_rubric(path)


def crit(**kw) -> Criterion:
    base = {"id": "C", "name": "c", "statement": "s"}
    base.update(kw)
    return Criterion(**base)


@pytest.mark.parametrize(
    "criterion, response, user, expected",
    [
        (crit(kind="regex_must_match", pattern=r"\bsorry\b"), "I'm sorry about that", "hi", True),
        (crit(kind="regex_must_match", pattern=r"\bsorry\b"), "No apology here", "hi", False),
        (crit(kind="regex_must_not_match", pattern="password"), "Send me your PASSWORD", "hi", False),
        (crit(kind="max_words", value=3), "one two three", "hi", True),
        (crit(kind="max_words", value=3), "one two three four", "hi", False),
        (crit(kind="min_words", value=2), "one", "hi", False),
        (crit(kind="contains", terms=["refund", "credit"]), "We will issue a Credit", "hi", True),
        (crit(kind="not_contains", terms=["guarantee"]), "We guarantee it", "hi", False),
        (crit(kind="json_valid"), '```json\n{"a": 1}\n```', "hi", True),
        (crit(kind="json_valid"), "{a: 1}", "hi", False),
        (crit(kind="length_ratio", max_ratio=2), "a b c d e", "x y", False),
        (crit(kind="length_ratio", max_ratio=2, min_words_floor=10), "a b c d e", "x y", True),
        (crit(kind="length_ratio", min_ratio=1), "a", "x y z", False),
    ],
)
def test_deterministic_checks(criterion, response, user, expected):
    assert run_check(criterion, response, user).passed is expected


def test_word_count_handles_punctuation():
    assert word_count("Don't panic -- it's fine, really.") == 5


def test_judge_schema_puts_reason_before_verdict_and_limits_na():
    schema = verdict_schema([crit(id="A"), crit(id="B", na_allowed=True)])
    a = schema["properties"]["A"]
    assert list(a["properties"]) == ["reason", "verdict"]
    assert a["properties"]["verdict"]["enum"] == ["yes", "no"]
    assert schema["properties"]["B"]["properties"]["verdict"]["enum"] == ["yes", "no", "n/a"]
    assert schema["required"] == ["A", "B"]


def test_parse_verdicts_valid_and_unreadable():
    criteria = [crit(id="A"), crit(id="B")]
    out = parse_verdicts('noise {"A": {"reason": "r", "verdict": "YES"}, "B": {"reason": "q", "verdict": "no"}} trailing', criteria)
    assert out["A"].verdict == "yes" and out["B"].verdict == "no"
    with pytest.raises(UnreadableVerdict):
        parse_verdicts('{"A": {"reason": "r", "verdict": "yes"}}', criteria)  # B missing
    with pytest.raises(UnreadableVerdict):
        parse_verdicts("I think it passes", criteria)
    with pytest.raises(UnreadableVerdict):
        parse_verdicts('{"A": {"verdict": "maybe"}, "B": {"verdict": "no"}}', criteria)


def test_parse_verdicts_strips_thinking():
    out = parse_verdicts('<think>{"A": "no"}</think>{"A": {"reason": "", "verdict": "yes"}}', [crit(id="A")])
    assert out["A"].verdict == "yes"


def make_rubric(mode="all", threshold=0.8, weights=None, criteria=None) -> Rubric:
    criteria = criteria or [
        crit(id="Q1", category="quality"),
        crit(id="Q2", category="quality", na_allowed=True),
        crit(id="S1", category="safety", critical=True),
    ]
    return Rubric(id="t", criteria=criteria, pass_rule={"mode": mode, "threshold": threshold, "category_weights": weights or {}})


def outcomes(**passed) -> list[CriterionOutcome]:
    return [CriterionOutcome(k, "judge", "yes" if v else ("n/a" if v is None else "no"), v) for k, v in passed.items()]


def test_pass_rule_all():
    r = make_rubric("all")
    assert decide(r, outcomes(Q1=True, Q2=None, S1=True))[0] is True
    assert decide(r, outcomes(Q1=False, Q2=True, S1=True))[0] is False


def test_pass_rule_weighted_uses_category_means_and_gates():
    r = make_rubric("weighted", 0.8, {"quality": 0.5, "safety": 0.5})
    passed, score, gates = decide(r, outcomes(Q1=True, Q2=False, S1=True))
    assert score == pytest.approx(0.5 * 0.5 + 0.5 * 1.0) and passed is False
    passed, score, gates = decide(r, outcomes(Q1=True, Q2=None, S1=True))
    assert score == pytest.approx(1.0) and passed is True  # n/a excluded from the category mean
    passed, score, gates = decide(make_rubric("weighted", 0.3, {"quality": 0.9, "safety": 0.1}), outcomes(Q1=True, Q2=True, S1=False))
    assert score == pytest.approx(0.9) and gates == ["S1"] and passed is False  # gate fails whatever the score


def test_na_where_not_allowed_counts_as_fail():
    r = make_rubric()
    samples = [{"Q1": JudgedCriterion("n/a", "x"), "Q2": JudgedCriterion("n/a", "y"), "S1": JudgedCriterion("yes", "z")}]
    outs = {o.id: o for o in judged_outcomes(r.criteria, samples)}
    assert outs["Q1"].passed is False and "not a valid answer" in outs["Q1"].reason
    assert outs["Q2"].passed is None


def test_majority_vote_and_agreement():
    c = [crit(id="A")]
    samples = [{"A": JudgedCriterion(v, "")} for v in ("yes", "no", "yes")]
    (o,) = judged_outcomes(c, samples)
    assert o.verdict == "yes" and o.agreement == pytest.approx(2 / 3)
    (tie,) = judged_outcomes(c, samples[:2])
    assert tie.verdict == "no"  # ties go to the stricter verdict


def test_unreadable_judge_makes_response_unscored_not_failed():
    r = make_rubric()
    a = assess(r, "s1", 0, [], r.criteria, [None, None], [])
    assert a.scored is False and a.passed is None
    b = assess(r, "s1", 0, [], r.criteria, [None, {"Q1": JudgedCriterion("yes", ""), "Q2": JudgedCriterion("yes", ""), "S1": JudgedCriterion("yes", "")}], [])
    assert b.scored is True and b.passed is True and b.judge_samples_read == 1


def test_applies_when_limits_criteria():
    c = crit(id="X", applies_when={"input_matches": "refund", "tags": {"topic": ["billing"]}})
    assert applies(c, "I want a refund", {"topic": "billing"})
    assert not applies(c, "I want a refund", {"topic": "access"})
    assert not applies(c, "hello", {"topic": "billing"})
    r = Rubric(id="t", criteria=[crit(id="L", kind="max_words", value=2, applies_when={"input_matches": "short"})])
    outs, facts = run_checks(r, "a b c", "hello", {})
    assert outs[0].passed is None and facts == []
    outs, facts = run_checks(r, "a b c", "keep it short", {})
    assert outs[0].passed is False and "3 words" in facts[0]


@pytest.mark.parametrize(
    "criterion, message",
    [
        ("{id: A, name: a, statement: a, weight: .inf}", "finite number"),
        ("{id: A, name: a, statement: a, kind: max_words, value: -1}", "needs a value >= 0"),
        ("{id: A, name: a, statement: a, kind: length_ratio, min_ratio: 3, max_ratio: 2}", "min_ratio 3.0 is above max_ratio 2.0"),
        ("{id: A, name: a, statement: a, applies_when: {input_matches: '[['}}", "invalid regex '[['"),
    ],
)
def test_values_no_response_could_meet_are_rejected_at_load(tmp_path, criterion, message):
    path = write(tmp_path, f"id: x\ncriteria:\n  - {criterion}\n")
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    assert message in err.value.message


def test_a_duplicate_key_is_named_not_silently_dropped(tmp_path):
    path = write(tmp_path, """\
        id: x
        criteria:
          - id: A
            name: a
            statement: a
            kind: llm
            kind: max_words
        """)
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    assert "duplicate key 'kind' (first at line 6)" in err.value.message and err.value.where.endswith(":7:5")


def test_whole_rubric_checks_point_at_the_offending_line(tmp_path):
    path = write(tmp_path, """\
        id: x
        pass_rule: {mode: weighted, threshold: 0.8, category_weights: {tone: 1, safety: 1}}
        criteria:
          - {id: A, name: a, statement: a, kind: llm, category: tone}
          - {id: B, name: b, statement: b, kind: llm, category: tone}
          - {id: A, name: c, statement: c, kind: llm, category: tone}
        """)
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    assert f"{path}:6 " in err.value.message and "duplicate criterion id(s): A" in err.value.message  # the second A
    path.write_text(path.read_text().replace("id: A, name: c", "id: C, name: c"))
    with pytest.raises(ConfigError) as err:
        load_rubric(path)
    assert f"{path}:2 " in err.value.message and "categories no criterion has: safety" in err.value.message
