"""Offline scenario generation: taxonomy cells rendered through jinja2 style templates."""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any

from ..errors import ConfigError
from .model import Scenario
from .stratify import Cell, Plan, plan
from .taxonomy import Taxonomy


@lru_cache(maxsize=1)
def default_style_templates() -> dict[str, list[str]]:
    """Style templates shipped in templates/scenario-styles.yaml, used when a taxonomy's style has none."""
    from ..paths import bundled
    from ..yamlio import safe_load

    path = bundled("templates") / "scenario-styles.yaml"
    return safe_load(path.read_text(encoding="utf-8"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24]


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, StrictUndefined

    return Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=512)
def _compiled(template: str):
    """Compile each style template once (compiling dominated generation time)."""
    return _env().from_string(template)


def _lower_first(text: str) -> str:
    """Lower-case the first letter to continue a sentence, except for "I ..." and acronyms ("NPM fails")."""
    first = text.split(" ", 1)[0]
    if first == "I" or first.startswith(("I'", "I’")) or (len(first) > 1 and first.isupper()):
        return text
    return text[:1].lower() + text[1:]


def render_cell(taxonomy: Taxonomy, cell: Cell, rng: random.Random) -> str:
    topic = next(t for t in taxonomy.topics if t.name == cell.topic)
    sub = next(s for s in topic.subtopics if s.name == cell.subtopic)
    style = taxonomy.styles[cell.style]
    templates = style.templates or default_style_templates().get(cell.style)
    if not templates:
        raise ConfigError(
            f"style '{cell.style}' has no templates and no default exists for it",
            hint="Add `templates:` to that style in the taxonomy (jinja2; variables: situation, detail, topic, subtopic).",
        )
    situation = rng.choice(sub.situations)
    detail = rng.choice(sub.details) if sub.details else ""
    variables: dict[str, Any] = {
        "situation": situation.strip().rstrip("."),
        "situation_lower": _lower_first(situation.strip().rstrip(".")),
        "detail": detail.strip(),
        "topic": cell.topic,
        "subtopic": cell.subtopic,
        **dict(cell.dims),
    }
    template = rng.choice(templates)
    try:
        text = _compiled(template).render(**variables)
    except Exception as exc:  # jinja2 syntax/undefined errors
        raise ConfigError(f"style template for '{cell.style}' failed to render: {exc}", hint=f"Template: {template!r}") from exc
    return re.sub(r"[ \t]+", " ", text).strip()


def generate_from_plan(taxonomy: Taxonomy, the_plan: Plan, seed: int) -> list[Scenario]:
    rng = random.Random(seed + 1)
    scenarios = [
        Scenario(id=f"edge-{e.id}", input=e.input.strip(), tags={"topic": "edge_case", "edge_case": e.id, "style": "edge", **e.tags})
        for e in taxonomy.edge_cases[: the_plan.edge_cases]
    ]
    seen = {s.input for s in scenarios}
    for i, cell in enumerate(the_plan.cells, start=1):
        # Same cell, same situation and template would repeat a message word for word: re-draw (bounded).
        for _ in range(20):
            text = render_cell(taxonomy, cell, rng)
            if text not in seen:
                break
        seen.add(text)
        scenarios.append(Scenario(id=f"s{i:03d}-{_slug(cell.topic)}-{cell.style}", input=text, tags=cell.tags()))
    return scenarios


def generate(taxonomy: Taxonomy, n: int = 50, seed: int = 0, id_prefix: str = "", include_edge_cases: bool = True) -> tuple[list[Scenario], Plan]:
    """N scenarios, stratified over topic x style, every edge case included; deterministic for a seed."""
    the_plan = plan(taxonomy, n, seed, include_edge_cases)
    scenarios = generate_from_plan(taxonomy, the_plan, seed)
    if id_prefix:
        for s in scenarios:
            s.id = f"{id_prefix}{s.id}"
    return scenarios, the_plan
