"""Taxonomy format and stratified scenario plans: coverage, determinism, balance, user-defined styles,
weight normalization, and clear schema errors."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from basesel.domains import bundled_domains
from basesel.errors import ConfigError
from basesel.scenarios import load_taxonomy
from basesel.scenarios.coverage import coverage_report
from basesel.scenarios.generate import generate
from basesel.scenarios.stratify import plan

PACKS = {p.name: p for p in bundled_domains()}


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def tax(name: str):
    return load_taxonomy(PACKS[name].taxonomy)


@pytest.mark.parametrize("name", sorted(PACKS))
def test_every_topic_style_cell_and_edge_case_covered_when_n_allows(name):
    t = tax(name)
    cells = len(t.topics) * len(t.styles)
    for n in (len(t.edge_cases) + cells, len(t.edge_cases) + cells + 7, 120):
        for seed in (0, 3):
            items, the_plan = generate(t, n, seed)
            report = coverage_report(t, items)
            assert len(items) == n and not the_plan.warnings and not the_plan.uncovered
            assert report["complete"] and report["cells_covered"] == cells and not report["missing_edge_cases"]
            assert min(report["cell_counts"].values()) >= 1
            assert sum(report["cell_counts"].values()) == n - len(t.edge_cases)


@pytest.mark.parametrize("name", sorted(PACKS))
def test_plan_is_deterministic_for_a_seed(name):
    t = tax(name)
    a, _ = generate(t, 60, seed=11)
    b, _ = generate(t, 60, seed=11)
    c, _ = generate(t, 60, seed=12)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert [s.to_dict() for s in a] != [s.to_dict() for s in c]


@pytest.mark.parametrize("name", sorted(PACKS))
def test_dimensions_and_subtopics_are_balanced(name):
    """Every dimension value lands within one scenario of its weighted share; subtopics likewise per topic."""
    t = tax(name)
    for n in (len(t.edge_cases) + 30, 150):
        the_plan = plan(t, n, seed=5)
        cells = the_plan.cells
        for dim, values in t.dimensions.items():
            counts = Counter(dict(c.dims)[dim] for c in cells)
            total = sum(values.values())
            for value, w in values.items():
                assert abs(counts[value] - len(cells) * w / total) <= 1, (dim, value, counts)
        for topic in t.topics:
            mine = [c for c in cells if c.topic == topic.name]
            counts = Counter(c.subtopic for c in mine)
            total = sum(s.weight for s in topic.subtopics)
            for sub in topic.subtopics:
                assert abs(counts[sub.name] - len(mine) * sub.weight / total) <= 1, (topic.name, sub.name, counts)


def test_weights_shape_allocation_beyond_one_per_cell(tmp_path):
    path = write(
        tmp_path,
        """
        id: w
        styles: {terse: {weight: 3}, detailed: {weight: 1}}
        topics:
          - {name: big, weight: 3, subtopics: [{name: s, situations: [I have a big problem]}]}
          - {name: small, weight: 1, subtopics: [{name: s, situations: [I have a small problem]}]}
        """,
    )
    t = load_taxonomy(path)
    items, _ = generate(t, 104, seed=0)
    cells = Counter((s.tags["topic"], s.tags["style"]) for s in items)
    # one per cell (4), the other 100 split 9:3:3:1 by topic weight x style weight
    assert cells[("big", "terse")] == 1 + 56 and cells[("small", "detailed")] == 1 + 6
    assert cells[("big", "detailed")] == cells[("small", "terse")] == 1 + 19


def test_small_n_warns_and_reports_the_uncovered_cells():
    t = tax("coaching")
    n = len(t.edge_cases) + 10
    items, the_plan = generate(t, n, seed=0)
    cells = len(t.topics) * len(t.styles)
    assert len(items) == n and len(the_plan.uncovered) == cells - 10
    assert "coverage is partial" in the_plan.warnings[0] and f"-n {len(t.edge_cases) + cells}" in the_plan.warnings[0]
    report = coverage_report(t, items)
    assert not report["complete"] and len(report["missing_cells"]) == cells - 10


def test_user_defined_style_with_its_own_templates_gets_the_dimensions(tmp_path):
    path = write(
        tmp_path,
        """
        id: custom
        styles:
          shouty:
            description: all caps
            templates: ["{{ situation | upper }}!!! ({{ mood }}, {{ channel }})"]
          terse: {}
        dimensions:
          mood: {calm: 1, angry: 1}
          channel: [email, chat, phone]
        topics:
          - name: billing
            subtopics: [{name: refunds, situations: [I want my money back, Refund my order]}]
          - name: access
            subtopics: [{name: login, situations: [I cannot log in]}]
        """,
    )
    t = load_taxonomy(path)
    assert t.dimensions["channel"] == {"email": 1.0, "chat": 1.0, "phone": 1.0}  # list shorthand
    items, _ = generate(t, 24, seed=2)
    shouty = [s for s in items if s.tags["style"] == "shouty"]
    assert shouty and {s.tags["topic"] for s in shouty} == {"billing", "access"}
    situations = {"billing": ["I WANT MY MONEY BACK", "REFUND MY ORDER"], "access": ["I CANNOT LOG IN"]}
    for s in shouty:
        head, tail = s.input.split("!!! ")
        assert head in situations[s.tags["topic"]]
        assert tail == f"({s.tags['mood']}, {s.tags['channel']})"  # the sampled dimensions reached the template
    terse = [s for s in items if s.tags["style"] == "terse"]
    assert terse and all("!!!" not in s.input for s in terse)  # the shipped default templates
    assert Counter(s.tags["channel"] for s in items if "channel" in s.tags) == {"email": 8, "chat": 8, "phone": 8}


def test_weights_that_look_like_probabilities_but_do_not_sum_to_one_warn(tmp_path):
    path = write(
        tmp_path,
        """
        id: n
        styles: {terse: {weight: 0.6}, detailed: {weight: 0.2}}
        dimensions: {mood: {calm: 0.6, angry: 0.6}}
        topics:
          - {name: a, weight: 2, subtopics: [{name: s, situations: [x y z]}]}
          - {name: b, weight: 1, subtopics: [{name: s, situations: [x y z]}]}
        """,
    )
    t = load_taxonomy(path)
    assert len(t.warnings) == 2
    style_warning = next(w for w in t.warnings if w.startswith("style"))
    assert "sum to 0.8" in style_warning and "terse 0.75" in style_warning and "detailed 0.25" in style_warning
    assert any("dimension 'mood'" in w and "calm 0.50" in w for w in t.warnings)
    # relative weights (2:1) are not a mistake and do not warn; normalization shapes the plan all the same
    items, _ = generate(t, 52, seed=0)  # 4 cells + 48 by weight: terse gets 0.75 of them
    styles = Counter(s.tags["style"] for s in items)
    assert styles == {"terse": 2 + 36, "detailed": 2 + 12}


@pytest.mark.parametrize(
    "body, fragments",
    [
        ("styles: {terse: {}}\ndimensions: {topic: {a: 1}}\n", ["dimension name 'topic' is reserved"]),
        ("styles: {loud: {templates: ['{{ situation '] }}\n", ["style 'loud' template 1", "invalid"]),
        ("styles: {loud: {templates: ['{{ nosuchvar }}'] }}\n", ["style 'loud' template 1", "nosuchvar", "Variables available"]),
        ("styles: {terse: {}}\ndimensions: {mood: {}}\n", ["dimension 'mood' has no values"]),
        ("styles: {terse: {}}\ndimensions: {mood: {calm: 0}}\n", ["weight <= 0"]),
        ("styles: {terse: {wieght: 2}}\n", ["styles.terse.wieght", "unknown field", "t.yaml:2  styles"]),
        ("styles: {}\n", ["styles", "at least 1"]),
    ],
)
def test_schema_errors_are_clear(tmp_path, body, fragments):
    topics = "topics:\n  - name: a\n    subtopics: [{name: s, situations: [x]}]\n"
    path = write(tmp_path, "id: bad\n" + body + topics)
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    text = str(err.value)
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def test_duplicate_subtopic_is_an_error(tmp_path):
    path = write(
        tmp_path,
        """
        id: d
        styles: {terse: {}}
        topics:
          - name: a
            subtopics:
              - {name: s, situations: [x]}
              - {name: s, situations: [y]}
        """,
    )
    with pytest.raises(ConfigError, match="duplicate subtopic name") as err:
        load_taxonomy(path)
    assert f"{path}:8 " in str(err.value)  # the line of the second 's', not the file's first line


@pytest.mark.parametrize(
    "tail, line, fragment",
    [
        ("edge_cases:\n  - {id: e1, input: x}\n  - {id: e2, input: y}\n  - {id: e1, input: z}\n", 11, "duplicate edge case id(s): e1"),
        ("dimensions:\n  tone: {}\n", 9, "dimension 'tone' has no values"),
        ("  - name: a\n    subtopics: [{name: t, situations: [z]}]\n", 8, "duplicate topic name(s): a"),
    ],
)
def test_whole_taxonomy_checks_point_at_the_offending_line(tmp_path, tail, line, fragment):
    head = "id: d\nstyles: {terse: {}}\ntopics:\n  - name: a\n    subtopics: [{name: s, situations: [x]}]\n  - name: b\n    subtopics: [{name: s, situations: [y]}]\n"
    path = tmp_path / "t.yaml"
    path.write_text(head + tail)
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert fragment in str(err.value) and f"{path}:{line} " in str(err.value), str(err.value)


def test_scenarios_cli_writes_a_coverage_report(tmp_path):
    import json

    from typer.testing import CliRunner

    from basesel.cli.main import app

    result = CliRunner().invoke(app, ["scenarios", "--domain", "coaching", "-n", "40", "--out", "s.jsonl"])
    assert result.exit_code == 0, result.output
    cov = json.loads((tmp_path / "s.coverage.json").read_text())
    assert cov["complete"] and cov["scenarios"] == 40 and cov["cells_total"] == 24
    assert sum(cov["cell_counts"].values()) + cov["edge_cases_present"] == 40
    assert "venting" in result.output and "help_seeking" in result.output
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert len(lines) == 40


@pytest.mark.parametrize(
    "extra, message",
    [
        ("styles: {terse: {weight: .inf}}", "finite number"),
        ("styles: {terse: {templates: ['{{ 1/0 }}']}}", "style 'terse' template 1"),
        ("styles: {terse: {}}\ndefaults: {n: 0}", "greater than or equal to 1"),
        ("styles: {terse: {}}\ndefaults: {temperature: -3}", "greater than or equal to 0"),
    ],
)
def test_taxonomy_values_that_cannot_work_are_rejected_at_load(tmp_path, extra, message):
    path = write(tmp_path, f"id: t\ntopics: [{{name: billing, subtopics: [{{name: refunds, situations: [my refund is late]}}]}}]\n{extra}\n")
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert message in err.value.message
