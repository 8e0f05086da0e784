"""Taxonomies as real projects write them: a root key, subtopics as plain names (with or without
situations), styles as a name -> weight map, top-level dimensions, comments as descriptions, unused
sections warned, turn ranges; edge-case-named subtopics that exercise the gates; messages that read as
a user's words."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from basesel.errors import ConfigError
from basesel.rubric import load_rubric
from basesel.rubric.scoring import applies
from basesel.scenarios import load_taxonomy
from basesel.scenarios.coverage import gate_coverage, gate_coverage_warnings
from basesel.scenarios.generate import generate
from conftest import BASESEL, REPO, cli_env

STEADY = REPO / "tests" / "data" / "project" / "steady-coaching.yaml"


def write(tmp_path: Path, text: str, name: str = "tax.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_real_projects_file_loads_as_written():
    t = load_taxonomy(STEADY)
    assert t.id == "steady-coaching" and t.version == "2.1"  # id from the file name
    assert [x.name for x in t.topics] == ["anxiety", "work_and_career", "relationships", "safety"]
    assert t.topics[1].weight == 2 and {k: s.weight for k, s in t.styles.items()} == {"terse": 0.3, "conversational": 0.5, "detailed": 0.15, "venting": 0.05}
    assert set(t.dimensions) == {"emotional_intensity", "conversation_length", "user_age"}
    assert t.dimension_notes["emotional_intensity"]["high"] == "I'm really struggling today"  # a comment describes the value
    assert t.styles["terse"].description == "one line, no greeting"
    assert t.dimension_turns == {"conversation_length": {"short": "3-5", "long": "8-10"}}
    anxiety = {s.name: s for s in t.topics[0].subtopics}
    assert anxiety["panic_attacks"].description == "sudden surges of fear, racing heart"
    assert anxiety["health_anxiety"].situations == ["I keep googling my symptoms at 3am and convincing myself it's something terrible"]
    joined = "\n".join(t.warnings)
    for section, line in (("owner", 5), ("last_reviewed", 6), ("reviewer_guidelines", 49)):
        assert f"section '{section}' (line {line}) is not used by basesel" in joined
    assert "have only a name" in joined and "--generator" in joined


def test_messages_read_as_a_users_words_and_carry_dimensions_and_turns():
    t = load_taxonomy(STEADY)
    items, _ = generate(t, 60, seed=0)
    for s in items:
        assert "_" not in s.input and "this is about" not in s.input.lower() and "{{" not in s.input, s.input
        assert not re.search(r"[?!]\.", s.input), s.input
        assert s.tags["turns"] in ("3-5", "8-10") and s.tags["turns"] == t.dimension_turns["conversation_length"][s.tags["conversation_length"]]
    # dimension values reach the messages (comments written in the user's voice, ages), not only the tags
    plain = [s for s in items if "case" not in s.tags]
    assert all(f"I'm {s.tags['user_age']}" in s.input for s in plain)
    assert all(t.dimension_notes["emotional_intensity"][s.tags["emotional_intensity"]] in s.input for s in plain)


def test_edge_case_named_subtopics_produce_such_messages_and_exercise_the_gates():
    t = load_taxonomy(STEADY)
    items, _ = generate(t, 60, seed=0)
    rubric = load_rubric(REPO / "rubrics" / "coaching.yaml")
    by_case: dict[str, list[str]] = {}
    for s in items:
        if s.tags.get("case"):
            by_case.setdefault(s.tags["case"], []).append(s.input)
    assert set(by_case) == {"crisis", "medical_advice", "hostile_user"}
    crisis_gate = next(c for c in rubric.criteria if c.id == "CQ7")
    assert all(applies(crisis_gate, text, {}) for text in by_case["crisis"])  # the crisis gate fires on every one
    assert all(re.search(r"sertraline|ADHD|pills|chest pains", m) for m in by_case["medical_advice"])
    assert all(re.search(r"useless|garbage|stupid|dumb", m, re.I) for m in by_case["hostile_user"])
    coverage = gate_coverage(rubric, items)
    assert coverage["CQ7"] == coverage["CQ8"] == len(by_case["crisis"]) > 0 and not gate_coverage_warnings(rubric, items)


def test_coverage_warns_when_a_gate_applies_to_no_scenario(tmp_path):
    path = write(tmp_path, """
        topics: {work: [burnout, deadlines]}
        styles: [terse, casual]
    """)
    items, _ = generate(load_taxonomy(path), 8, seed=0)
    warnings = gate_coverage_warnings(load_rubric(REPO / "rubrics" / "coaching.yaml"), items)
    assert len(warnings) == 1 and "CQ7, CQ8 (critical) applied to no scenario" in warnings[0]


@pytest.mark.parametrize("text", [
    # the taxonomy under a root key, topics as a mapping of plain name lists
    """
    my_taxonomy:
      topics: {billing: [double charge, refund], login: [password reset]}
      styles: {terse: 1, conversational: 2}
    """,
    # subtopics as a list of names, some with situations; styles as a list of names
    """
    topics:
      - name: billing
        subtopics:
          - double charge: [I was charged twice for my plan this month]
          - refund
      - name: login
        subtopics: [password reset]
    styles: [terse, conversational]
    """,
    # subtopics as a mapping name -> situations; a topic as {weight, subtopics}
    """
    topics:
      billing:
        weight: 2
        subtopics:
          double charge: [I was charged twice for my plan this month]
          refund: 1
      login: {subtopics: [password reset]}
    styles: {terse: 0.5, conversational: 0.5}
    """,
])
def test_each_shorthand_form(tmp_path, text):
    t = load_taxonomy(write(tmp_path, text, "support-v3.yaml"))
    assert t.id == "support-v3"
    assert [x.name for x in t.topics] == ["billing", "login"]
    assert {s.name for s in t.topics[0].subtopics} == {"double charge", "refund"}
    assert set(t.styles) == {"terse", "conversational"}
    items, _ = generate(t, 6, seed=1)
    assert all(s.input and "{{" not in s.input for s in items)


def test_extra_dimensions_with_weights_turns_and_says(tmp_path):
    t = load_taxonomy(write(tmp_path, """
        id: x
        topics: {work: [burnout]}
        styles: {conversational: 1}
        urgency:
          low: {weight: 2, says: "No rush on this."}
          high: {weight: 1, says: "I need help today.", turns: 2-3}
        turns: 4
    """))
    assert t.dimensions == {"urgency": {"low": 2.0, "high": 1.0}} and t.turns == "4" and not t.warnings[1:]
    items, _ = generate(t, 6, seed=0)
    for s in items:
        assert ("No rush on this." in s.input) == (s.tags["urgency"] == "low")
        assert s.tags["turns"] == ("2-3" if s.tags["urgency"] == "high" else "4")


def test_styles_get_built_in_templates_by_name_or_fail_at_load_time_with_the_line(tmp_path):
    t = load_taxonomy(write(tmp_path, "topics: {work: [burnout]}\nstyles: {casual: 1, rant: 1, formal: 1}\n"))
    items, _ = generate(t, 3, seed=0)
    assert {s.tags["style"] for s in items} == {"casual", "rant", "formal"}
    path = write(tmp_path, "topics: {work: [burnout]}\nstyles:\n  terse: 1\n  sing-song: 1\n", "bad.yaml")
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert f"{path}:4" in err.value.message and "sing-song" in err.value.message and "--generator" in err.value.message


def test_errors_in_shorthand_forms_point_at_the_line(tmp_path):
    path = write(tmp_path, "topics:\n  billing:\n    weight: -1\n    subtopics: [refund]\nstyles: [terse]\n")
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert f"{path}:3" in err.value.message and "weight" in err.value.message


def test_scenarios_cli_writes_turns_and_warns_about_idle_gates(tmp_path):
    path = write(tmp_path, "topics: {work: [burnout, deadlines]}\nstyles: [terse, conversational]\n")
    proc = subprocess.run(BASESEL + ["scenarios", "--taxonomy", str(path), "-n", "4", "--turns", "2-4", "--rubric", "coaching", "-o", "s.jsonl", "--json"],
                          cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert {r["turns"] for r in rows} == {"2-4"}
    assert "applied to no scenario" in proc.stderr and json.loads(proc.stdout)["coverage"]["gate_coverage"]["CQ7"] == 0


def test_a_misspelled_section_is_an_error_not_a_note(tmp_path):
    path = write(tmp_path, "topics: {work: [burnout]}\nstyles: [terse]\nsytem_prompt: You are a coach.\n")
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert err.value.where == f"{path}:3" and "did you mean 'system_prompt'" in err.value.message
