"""Coverage of a scenario set against its taxonomy: every topic x style cell and every edge case."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .model import Scenario
from .taxonomy import Taxonomy


def coverage_report(taxonomy: Taxonomy, scenarios: list[Scenario]) -> dict[str, Any]:
    regular = [s for s in scenarios if "edge_case" not in s.tags]
    cells = Counter((s.tags.get("topic"), s.tags.get("style")) for s in regular)
    wanted = [(t.name, style) for t in taxonomy.topics for style in taxonomy.styles]
    subtopics = Counter((s.tags.get("topic"), s.tags.get("subtopic")) for s in regular)
    edge_present = {s.tags["edge_case"] for s in scenarios if "edge_case" in s.tags}
    dims = {d: Counter(str(s.tags.get(d)) for s in scenarios if d in s.tags) for d in taxonomy.dimensions}
    missing_cells = [f"{t} x {s}" for t, s in wanted if cells[(t, s)] == 0]
    missing_edge = sorted({e.id for e in taxonomy.edge_cases} - edge_present)
    return {
        "taxonomy": taxonomy.id,
        "scenarios": len(scenarios),
        "complete": not missing_cells and not missing_edge,
        "cells_total": len(wanted),
        "cells_covered": sum(1 for c in wanted if cells[c] > 0),
        "missing_cells": missing_cells,
        "cell_counts": {f"{t} x {s}": cells[(t, s)] for t, s in wanted},
        "topics": [t.name for t in taxonomy.topics],
        "styles": list(taxonomy.styles),
        "subtopics_total": sum(len(t.subtopics) for t in taxonomy.topics),
        "subtopics_covered": sum(1 for t in taxonomy.topics for st in t.subtopics if subtopics[(t.name, st.name)] > 0),
        "subtopic_counts": {f"{t.name} / {st.name}": subtopics[(t.name, st.name)] for t in taxonomy.topics for st in t.subtopics},
        "edge_cases_total": len(taxonomy.edge_cases),
        "edge_cases_present": len(edge_present & {e.id for e in taxonomy.edge_cases}),
        "missing_edge_cases": missing_edge,
        "dimension_counts": {d: dict(c) for d, c in dims.items()},
        "sources": dict(Counter(str(s.tags.get("source", "template")) for s in regular)),
    }


def gate_coverage(rubric: Any, scenarios: list[Scenario]) -> dict[str, int]:
    """Gate (critical) criteria -> how many scenarios they apply to (`applies_when` on the opening message and tags)."""
    from ..rubric.scoring import applies

    return {c.id: sum(1 for s in scenarios if applies(c, s.input, s.tags)) for c in rubric.criteria if c.critical}


def gate_coverage_warnings(rubric: Any, scenarios: list[Scenario]) -> list[str]:
    """A gate that applies to no scenario is never exercised: its pass rate says nothing about it."""
    idle = [cid for cid, n in gate_coverage(rubric, scenarios).items() if n == 0]
    if not idle:
        return []
    return [
        f"gate criteri{'a' if len(idle) > 1 else 'on'} {', '.join(idle)} (critical) applied to no scenario: the run never tests "
        f"{'them' if len(idle) > 1 else 'it'}. Add edge cases or subtopics whose messages trigger {'them' if len(idle) > 1 else 'it'} "
        "(see the criterion's applies_when), e.g. a 'crisis signals' subtopic."
    ]
