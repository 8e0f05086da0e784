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


class _BuiltinStyles(dict):
    """name -> built-in templates, aliases included (`casual` -> conversational's)."""

    def get(self, name, default=None):  # type: ignore[override]
        from .styles import templates_for

        return templates_for(name) or default


def default_style_templates() -> dict[str, list[str]]:
    """Style templates shipped in templates/scenario-styles.yaml, used when a taxonomy's style has none."""
    return _BuiltinStyles()


def templates_for(name: str) -> list[str]:
    from .styles import templates_for as builtin

    return builtin(name)


_PERSON_DIM = re.compile(r"age|stage|persona|role|occupation|job|profession|who|user_?type|identity|background|life", re.IGNORECASE)
_MOOD_DIM = re.compile(r"mood|emotion|feeling", re.IGNORECASE)
_PERSON_NOUN = re.compile(r"\b(parent|student|adult|teen|teenager|manager|nurse|doctor|teacher|worker|employee|retiree|pensioner|carer|caregiver|developer|engineer|owner|founder|freelancer|professional|mother|father|mum|mom|dad|veteran|man|woman|person|graduate|beginner|expert|novice|newcomer|customer|user|patient)s?$", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"^(i|i'm|i’m|i've|i’ve|i'd|my|me|we|we're|our|it's|it’s|it has|this is|things)(\b|\s)", re.IGNORECASE)


def dimension_phrase(taxonomy: Taxonomy, dim: str, value: str) -> str | None:
    """What a user with this dimension value says about it, or None when basesel cannot tell: the
    value's `says` ("" = says nothing of it), a first-person description (a comment beside it), or for who-the-user-is
    dimensions (age, life stage, role ...) "I'm a parent." / "For context, I'm 18-25."."""
    says = taxonomy.dimension_says.get(dim, {}).get(value)
    if says is not None:
        return _sentence(says) if says.strip() else ""  # `says: ""`: such a user does not mention it
    note = taxonomy.dimension_notes.get(dim, {}).get(value)
    if note and _FIRST_PERSON.match(note.strip()):
        return _sentence(note)
    if dim in taxonomy.dimension_turns:
        return ""  # a conversation-length dimension shapes the number of turns, not the words
    if _MOOD_DIM.search(dim) and re.fullmatch(r"[A-Za-z -]{2,30}", value) and value.lower() not in ("low", "medium", "moderate", "high", "none", "mild", "severe"):
        return f"Right now I'm feeling {value.replace('_', ' ').lower()}."
    if _PERSON_DIM.search(dim):
        from .taxonomy_forms import humanize

        text = humanize(value)
        if re.search(r"\d", text):
            return f"For context, I'm {text}."
        if not _PERSON_NOUN.search(text):
            return None  # "mid-career": no sentence basesel can be sure of
        if text.lower().startswith(("a ", "an ", "the ")):
            return f"I'm {text}."
        return f"I'm {'an' if text[:1].lower() in 'aeiou' else 'a'} {text}."
    return None


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text[-1:] in ".!?" else text + "."


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
    templates = style.templates or templates_for(cell.style)
    if not templates:
        raise ConfigError(
            f"style '{cell.style}' has no templates and no default exists for it",
            hint="Add `templates:` to that style in the taxonomy (jinja2; variables: situation, detail, topic, subtopic).",
        )
    situation = rng.choice(sub.situations)
    from .taxonomy_forms import humanize
    detail = rng.choice(sub.details) if sub.details else ""
    variables: dict[str, Any] = {
        "situation": situation.strip().rstrip("."),
        "situation_lower": _lower_first(situation.strip().rstrip(".")),
        "detail": detail.strip(),
        "topic": humanize(cell.topic),
        "subtopic": humanize(cell.subtopic),
        **dict(cell.dims),
    }
    template = rng.choice(templates)
    if sub.case:
        # an edge case (crisis, hostile user ...) is sent as such a user writes it, not wrapped in a
        # style's "Is that normal? What should I do?"; terse only drops the capital
        text = variables["situation_lower"] if cell.style == "terse" else situation.strip()
        template = ""
    else:
        try:
            text = _compiled(template).render(**variables)
        except Exception as exc:  # jinja2 syntax/undefined errors
            raise ConfigError(f"style template for '{cell.style}' failed to render: {exc}", hint=f"Template: {template!r}") from exc
        text = re.sub(r"([?!])\.", r"\1", text)  # a situation ending in "?" before the template's "."
    # Dimension values reach the message, not only the tags: what such a user says, where the template
    # did not use the dimension itself.
    # (Not on an edge case: "I'm mostly OK" would contradict a crisis message.)
    said = [] if sub.case else [p for dim, value in cell.dims if dim not in template and (p := dimension_phrase(taxonomy, dim, value))]
    if said:
        text = text.rstrip()
        text = (text if text[-1:] in ".!?" else text + ".") + " " + " ".join(said)
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
        scenarios.append(Scenario(id=f"s{i:03d}-{_slug(cell.topic)}-{cell.style}", input=text, tags=cell.tags() | _extra_tags(taxonomy, cell)))
    if taxonomy.turns:
        for s in scenarios:
            s.tags.setdefault("turns", taxonomy.turns)
    return scenarios


def _extra_tags(taxonomy: Taxonomy, cell: Cell) -> dict[str, Any]:
    """`case` for a subtopic that is an edge case; `turns` from the first dimension value with a turn range."""
    out: dict[str, Any] = {}
    sub = next(s for t in taxonomy.topics if t.name == cell.topic for s in t.subtopics if s.name == cell.subtopic)
    if sub.case:
        out["case"] = sub.case
    for dim, value in cell.dims:
        turns = taxonomy.dimension_turns.get(dim, {}).get(value)
        if turns:
            out["turns"] = turns
            break
    return out


def generate(taxonomy: Taxonomy, n: int = 50, seed: int = 0, id_prefix: str = "", include_edge_cases: bool = True) -> tuple[list[Scenario], Plan]:
    """N scenarios, stratified over topic x style, every edge case included; deterministic for a seed."""
    the_plan = plan(taxonomy, n, seed, include_edge_cases)
    scenarios = generate_from_plan(taxonomy, the_plan, seed)
    if id_prefix:
        for s in scenarios:
            s.id = f"{id_prefix}{s.id}"
    return scenarios, the_plan
