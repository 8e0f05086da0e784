"""Template scenario generation (stratified, deterministic) and the scenario file format."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from basesel.errors import ConfigError
from basesel.scenarios import load_scenarios, load_taxonomy
from basesel.scenarios.generate import generate


@pytest.fixture
def support(repo):
    return load_taxonomy(repo / "taxonomies" / "support.yaml")


def test_every_topic_style_and_edge_case_covered(support):
    items, plan = generate(support, 50, seed=0)
    assert len(items) == 50 and not plan.warnings
    cells = Counter((s.tags["topic"], s.tags["style"]) for s in items if "edge_case" not in s.tags)
    assert set(cells) == {(t.name, st) for t in support.topics for st in support.styles}
    assert {s.tags["edge_case"] for s in items if "edge_case" in s.tags} == {e.id for e in support.edge_cases}
    subtopics = {(s.tags["topic"], s.tags["subtopic"]) for s in items if "subtopic" in s.tags}
    assert subtopics == {(t.name, st.name) for t in support.topics for st in t.subtopics}
    assert len({s.id for s in items}) == 50
    assert len({s.input for s in items}) == 50  # no word-for-word repeats


def test_deterministic_for_a_seed(support):
    a, _ = generate(support, 40, seed=7)
    b, _ = generate(support, 40, seed=7)
    c, _ = generate(support, 40, seed=8)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert [s.to_dict() for s in a] != [s.to_dict() for s in c]


def test_weights_shape_the_allocation(support):
    items, _ = generate(support, 200, seed=1)
    topics = Counter(s.tags["topic"] for s in items if "edge_case" not in s.tags)
    assert topics["billing"] > topics["plans and features"]  # weight 1.2 vs 0.8
    moods = Counter(s.tags["mood"] for s in items if "mood" in s.tags)
    assert moods["calm"] == pytest.approx(2 * moods["frustrated"], rel=0.1)  # dimension weights 2:1


def test_n_smaller_than_cells_warns_and_says_what_happens(support):
    items, plan = generate(support, 10, seed=0)
    assert len(items) == 10
    assert plan.warnings and "coverage is partial" in plan.warnings[0] and "-n 21" in plan.warnings[0]


def test_n_smaller_than_edge_cases_is_an_error(support):
    with pytest.raises(ConfigError, match="edge cases"):
        generate(support, 3, seed=0)


def test_empty_taxonomy_is_a_clear_error(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_taxonomy(path)
    path.write_text("id: t\nstyles: {terse: {}}\ntopics: []\n")
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert "topics" in err.value.message and "at least 1" in err.value.message


def test_scenario_file_formats(tmp_path):
    path = tmp_path / "s.jsonl"
    rows = [{"input": "a", "id": "x1", "topic": "t"}, {"message": "b"}, {"prompt": "c", "lang": "fr"}, {"text": "d"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    items = load_scenarios(path)
    assert [s.input for s in items] == ["a", "b", "c", "d"]
    assert [s.id for s in items] == ["x1", "2", "3", "4"]
    assert items[0].tags == {"topic": "t"} and items[2].tags == {"lang": "fr"}


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"input": "a"}\n{broken\n', ":2"),
        ('{"question": "a"}\n', "no user message"),
        ('{"input": "a", "id": 1}\n{"input": "b", "id": 1}\n', "duplicate scenario id"),
        ("", "holds no scenarios"),
    ],
)
def test_scenario_file_errors(tmp_path, content, fragment):
    path = tmp_path / "s.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_scenarios(path)
    assert fragment in str(err.value)
