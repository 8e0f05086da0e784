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
RESERVED_NAMES = frozenset({"situation", "situation_lower", "detail", "topic", "subtopic", "style", "edge_case", "id", "input", "source"})


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
    source_sha256: str | None = Field(default=None, exclude=True)
    warnings: list[str] = Field(default_factory=list, exclude=True)

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
        sample = {"situation": "x", "situation_lower": "x", "detail": "x", "topic": "x", "subtopic": "x"}
        sample.update({dim: next(iter(values)) for dim, values in self.dimensions.items()})
        for name, style in self.styles.items():
            for i, template in enumerate(style.templates):
                try:
                    env.from_string(template).render(**sample)
                except Exception as exc:  # TemplateError, or an expression that fails ({{ 1/0 }})
                    known = ", ".join(sorted(sample))
                    raise LocatedValueError(f"style '{name}' template {i + 1} ({template!r}) is invalid: {exc}. Variables available: {known}", "styles", name, "templates", i) from exc

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
    tax = load_model(path, Taxonomy, what="taxonomy")
    tax.source_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    tax.warnings = tax.normalization_warnings()
    return tax
