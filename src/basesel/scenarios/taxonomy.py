"""Taxonomy files: topics -> subtopics, styles, further dimensions, explicit edge cases."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..yamlio import LocatedValueError, load_model, repeated


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Subtopic(Strict):
    name: str
    weight: float = Field(default=1.0, gt=0)
    situations: list[str] = Field(min_length=1)
    """Concrete things a user in this subtopic says or faces; templates phrase them in each style."""
    details: list[str] = Field(default_factory=list)
    """Extra context a detailed message may add."""
    description: str | None = None
    """What the subtopic covers (a comment next to its name becomes this); handed to an LLM generator."""
    case: str | None = None
    """The edge case its situations are (crisis, medical_advice, hostile_user ...), for a subtopic named like one."""


class Topic(Strict):
    name: str
    weight: float = Field(default=1.0, gt=0)
    description: str | None = None
    subtopics: list[Subtopic] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_subtopics(self) -> Topic:
        dupes, at = repeated([s.name for s in self.subtopics])
        if dupes:
            raise LocatedValueError(f"topic '{self.name}' has duplicate subtopic name(s): {', '.join(dupes)}", "subtopics", at, "name")
        return self


class Style(Strict):
    weight: float = Field(default=1.0, gt=0)
    description: str | None = None
    """How messages in this style read; handed to an LLM generator (`basesel scenarios --generator`)."""
    templates: list[str] = Field(default_factory=list)
    """Jinja2 templates; variables: situation, situation_lower, detail, topic, subtopic, and every dimension.
    A style without templates uses the shipped defaults of the same name (terse, conversational, detailed)."""


# Template variables and scenario tags a dimension may not shadow.
RESERVED_NAMES = frozenset({"situation", "situation_lower", "detail", "topic", "subtopic", "style", "edge_case", "id", "input", "source", "turns", "case"})


class EdgeCase(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    input: str = Field(min_length=1)
    description: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)


class RunDefaults(Strict):
    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1)


class Taxonomy(Strict):
    id: str
    version: str = "1"
    domain: str | None = None
    description: str | None = None
    system_prompt: str | None = None
    """The system prompt the candidate runs under for this domain."""
    styles: dict[str, Style] = Field(min_length=1)
    topics: list[Topic] = Field(min_length=1)
    dimensions: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Further weighted dimensions sampled per scenario, e.g. {difficulty: {easy: 1, hard: 2}}."""
    edge_cases: list[EdgeCase] = Field(default_factory=list)
    defaults: RunDefaults = Field(default_factory=RunDefaults)
    turns: str | None = None
    """Multi-turn: N or MIN-MAX turns for every scenario, unless a dimension value sets its own `turns`."""
    source_sha256: str | None = Field(default=None, exclude=True)
    warnings: list[str] = Field(default_factory=list, exclude=True)
    dimension_notes: dict[str, dict[str, str]] = Field(default_factory=dict, exclude=True)
    """Descriptions of dimension values (from `description:` or a comment beside the value)."""
    dimension_says: dict[str, dict[str, str]] = Field(default_factory=dict, exclude=True)
    """What a user with that dimension value says about it, put into template messages."""
    dimension_turns: dict[str, dict[str, str]] = Field(default_factory=dict, exclude=True)
    """Turn ranges per dimension value (`short: {weight: 2, turns: 3-5}`)."""

    @field_validator("turns", mode="before")
    @classmethod
    def _turns_text(cls, v):
        if v is None:
            return v
        from ..run.conversation import parse_turns

        try:
            parse_turns(v, where="turns")
        except Exception as exc:
            raise ValueError(getattr(exc, "message", str(exc))) from exc
        return str(v)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_str(cls, v):
        return str(v)

    @field_validator("dimensions", mode="before")
    @classmethod
    def _dimension_lists(cls, v):
        """`difficulty: [easy, hard]` is shorthand for equal weights."""
        if isinstance(v, dict):
            return {k: ({str(x): 1.0 for x in vals} if isinstance(vals, list) else vals) for k, vals in v.items()}
        return v

    @model_validator(mode="after")
    def _check(self) -> Taxonomy:
        dupes, at = repeated([t.name for t in self.topics])
        if dupes:
            raise LocatedValueError(f"duplicate topic name(s): {', '.join(dupes)}", "topics", at, "name")
        dupes, at = repeated([e.id for e in self.edge_cases])
        if dupes:
            raise LocatedValueError(f"duplicate edge case id(s): {', '.join(dupes)}", "edge_cases", at, "id")
        for dim, values in self.dimensions.items():
            if not values:
                raise LocatedValueError(f"dimension '{dim}' has no values", "dimensions", dim)
            if any(w <= 0 for w in values.values()):
                raise LocatedValueError(f"dimension '{dim}' has a weight <= 0", "dimensions", dim)
            if dim in RESERVED_NAMES:
                raise LocatedValueError(f"dimension name '{dim}' is reserved (it is a template variable or scenario tag); rename it", "dimensions", dim)
        self._check_templates()
        return self

    def _check_templates(self) -> None:
        """Compile every style template and render it once with placeholder values, so a jinja2 syntax
        error or an unknown variable is reported when the taxonomy loads, naming the style."""
        from jinja2 import Environment, StrictUndefined

        env = Environment(undefined=StrictUndefined, autoescape=False)
        from .generate import templates_for

        for name, style in self.styles.items():
            if not style.templates and not templates_for(name):
                from .styles import known_style_names

                raise LocatedValueError(
                    f"style '{name}' has no templates and basesel has no built-in ones for that name (built-in: {known_style_names()}). "
                    "Add `templates:` to it (jinja2; variables: situation, situation_lower, detail, topic, subtopic and the dimensions), "
                    "rename it to a built-in style, or write the messages with a model: `basesel scenarios --generator MODEL`",
                    "styles", name,
                )
        sample = {"situation": "x", "situation_lower": "x", "detail": "x", "topic": "x", "subtopic": "x"}
        sample.update({dim: next(iter(values)) for dim, values in self.dimensions.items()})
        for name, style in self.styles.items():
            for i, template in enumerate(style.templates):
                try:
                    env.from_string(template).render(**sample)
                except Exception as exc:  # TemplateError, or an expression that fails ({{ 1/0 }})
                    known = ", ".join(sorted(sample))
                    raise LocatedValueError(f"style '{name}' template {i + 1} ({template!r}) is invalid: {exc}. Variables available: {known}", "styles", name, "templates", i) from exc

    def reach_warnings(self, named_only: list[str]) -> list[str]:
        """What the template path cannot do well without a model: say so, and point to --generator."""
        out = []
        if named_only:
            shown = ", ".join(named_only[:4]) + (f" and {len(named_only) - 4} more" if len(named_only) > 4 else "")
            out.append(
                f"{len(named_only)} subtopics have only a name ({shown}): their template messages are built from the name and read generic. "
                "Add a few `situations` (what such a user says) to them, or write the messages with a model: `basesel scenarios --generator MODEL`."
            )
        from .generate import dimension_phrase

        silent = [d for d, values in self.dimensions.items() if any(dimension_phrase(self, d, v) is None for v in values)
                  and not any(d in t for s in self.styles.values() for t in s.templates)]
        if silent:
            out.append(
                f"dimension{'s' if len(silent) > 1 else ''} {', '.join(silent)}: some values reach only the scenario tags, not the messages. "
                "Say what such a user writes: a comment in the first person beside the value (`high: 1  # I'm really struggling today`) or `says:`, "
                "use {{ " + silent[0] + " }} in a style template, or use `--generator`."
            )
        return out

    def normalization_warnings(self) -> list[str]:
        """Weights are relative; say so when a group that looks like probabilities does not sum to 1."""
        out = []

        def check(label: str, items: dict[str, float]) -> None:
            weights = list(items.values())
            total = sum(weights)
            if all(w <= 1 for w in weights) and len(weights) > 1 and abs(total - 1) > 1e-6 and total < 1.5:
                shares = ", ".join(f"{k} {w / total:.2f}" for k, w in items.items())
                out.append(f"{label} weights sum to {total:.3g}, not 1; they were normalized to {shares}")

        check("topic", {t.name: t.weight for t in self.topics})
        check("style", {k: s.weight for k, s in self.styles.items()})
        for t in self.topics:
            check(f"subtopic ({t.name})", {s.name: s.weight for s in t.subtopics})
        for dim, values in self.dimensions.items():
            check(f"dimension '{dim}'", values)
        return out


def load_taxonomy(path: Path) -> Taxonomy:
    """A taxonomy file, in basesel's shape or in the shorthand forms people write (taxonomy_forms.py)."""
    from .taxonomy_forms import load_forms

    tax, forms = load_forms(path, Taxonomy)
    tax.source_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    tax.dimension_notes, tax.dimension_says, tax.dimension_turns = forms.dimension_notes, forms.dimension_says, forms.dimension_turns
    tax.warnings = forms.warnings + tax.normalization_warnings() + tax.reach_warnings(forms.named_only)
    return tax
