"""Rubric files (YAML), validated strictly so a typo is an error with a line number."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


from ..yamlio import LocatedValueError, load_model, repeated
from .rules import DecisionGate, JudgeErrorScoring, Measurement, NaScoring, consistency_problems

CriterionKind = Literal[
    "llm",
    "regex_must_match",
    "regex_must_not_match",
    "max_words",
    "min_words",
    "contains",
    "not_contains",
    "json_valid",
    "length_ratio",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AppliesWhen(Strict):
    """Limit a criterion to some scenarios; elsewhere it is not applicable (n/a)."""

    input_matches: str | None = None
    """Regex (case-insensitive) the user's message must match."""
    tags: dict[str, str | list[str]] | None = None
    """Scenario tags that must match, e.g. {topic: crisis} or {edge_case: [crisis, self_harm]}."""

    @field_validator("input_matches")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            import re

            import warnings

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # "possible nested set": noise next to the real error
                    re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid regex {v!r}: {exc}") from exc
        return v


class Criterion(Strict):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    """Short id used in reports, e.g. CQ1."""
    name: str
    statement: str
    """A gradable yes/no statement about the response, e.g. 'The response validates the user's feelings'."""
    category: str | None = None
    kind: CriterionKind = "llm"
    critical: bool = False
    """A gate: failing it fails the response whatever the score."""
    na_allowed: bool = False
    """Whether 'n/a' is a valid answer; n/a where it is not allowed counts as a fail."""
    weight: float = Field(default=1.0, gt=0)
    applies_when: AppliesWhen | None = None
    # parameters of deterministic kinds
    pattern: str | None = None
    """regex_must_match / regex_must_not_match (case-insensitive, multiline)."""
    value: int | float | None = None
    """max_words / min_words limit."""
    terms: list[str] | None = None
    """contains (any of) / not_contains (none of), case-insensitive."""
    min_ratio: float | None = None
    max_ratio: float | None = None
    """length_ratio: response words / user-message words."""
    min_words_floor: int | None = None
    """length_ratio: responses up to this many words always pass the max_ratio bound."""
    share_with_judge: bool = True
    """Hand the measured fact to the judge (models count badly)."""
    share_with: list[str] | None = None
    """Deterministic criteria: the judged criterion ids the measured fact is shown with (default: all)."""
    na_scoring: NaScoring | None = None
    """How n/a counts for this criterion: exclude | pass | fail (default: the pass rule's na_scoring)."""
    decision_gate: DecisionGate | None = None
    """Critical criteria: a decision-level gate (max failure rate over the scenarios it applies to)."""
    scope: Literal["last_reply", "every_reply", "transcript"] = "last_reply"
    """Multi-turn runs (`--turns`): what is graded. last_reply: the final reply (earlier turns are context);
    every_reply: each assistant reply must meet it; transcript: the conversation as a whole. One-turn
    conversations are graded the same way whatever the scope."""
    min_turns: int | None = Field(default=None, ge=1)
    """Not applicable (n/a) to conversations shorter than this many turns (e.g. 'varies techniques over turns')."""

    @model_validator(mode="after")
    def _params_match_kind(self) -> Criterion:
        need = {
            "regex_must_match": ("pattern",),
            "regex_must_not_match": ("pattern",),
            "max_words": ("value",),
            "min_words": ("value",),
            "contains": ("terms",),
            "not_contains": ("terms",),
        }.get(self.kind, ())
        missing = [p for p in need if getattr(self, p) is None]
        if missing:
            raise ValueError(f"criterion kind '{self.kind}' needs field(s): {', '.join(missing)}")
        if self.kind == "length_ratio" and self.min_ratio is None and self.max_ratio is None:
            raise ValueError("criterion kind 'length_ratio' needs min_ratio and/or max_ratio")
        if self.kind in ("max_words", "min_words") and self.value is not None and self.value < 0:
            raise ValueError(f"criterion kind '{self.kind}' needs a value >= 0, got {self.value}")
        if self.min_ratio is not None and self.max_ratio is not None and self.min_ratio > self.max_ratio:
            raise ValueError(f"min_ratio {self.min_ratio} is above max_ratio {self.max_ratio}: no response could pass")
        if self.pattern is not None:
            import re

            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {self.pattern!r}: {exc}") from exc
        return self

    @property
    def judged(self) -> bool:
        return self.kind == "llm"


class PassRule(Strict):
    mode: Literal["all", "weighted"] = "all"
    """all: every applicable criterion passes. weighted: weighted score >= threshold and no gate failure."""
    threshold: float = Field(default=0.8, ge=0, le=1)
    category_weights: dict[str, float] = Field(default_factory=dict)
    """Weight per category; a category's score is the mean of its applicable criteria. Weighted mode
    needs a weight for every category (0 leaves one out)."""
    na_scoring: NaScoring = "exclude"
    """How n/a outcomes count: exclude (left out of the category mean), pass, or fail. Per criterion: na_scoring."""
    empty_category: Literal["drop"] | float | None = Field(default=None)
    """A category with no applicable criterion: drop (left out, other weights renormalised) or a score
    in [0, 1]. Must be declared when a category can be empty (weighted mode)."""
    judge_error: JudgeErrorScoring = "unscored"
    """A response whose verdict could not be obtained: unscored (excluded) or fail (judged criteria fail)."""

    @field_validator("empty_category")
    @classmethod
    def _empty_score(cls, v):
        if isinstance(v, (int, float)) and not 0 <= v <= 1:
            raise ValueError(f"empty_category must be 'drop' or a score between 0 and 1, got {v}")
        return v


class Rubric(Strict):
    id: str
    version: str = "1"
    domain: str | None = None
    description: str | None = None
    judge_instructions: str | None = None
    """Extra guidance for the judge (domain context)."""
    criteria: list[Criterion] = Field(min_length=1)
    pass_rule: PassRule = Field(default_factory=PassRule)
    measurements: list[Measurement] = Field(default_factory=list)
    """Deterministic facts handed to the judge for chosen criteria, not scored."""
    source_sha256: str | None = Field(default=None, exclude=True)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_str(cls, v):
        return str(v)

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        dupes, at = repeated([c.id for c in self.criteria])
        if dupes:
            raise LocatedValueError(f"duplicate criterion id(s): {', '.join(dupes)}", "criteria", at, "id")
        if self.pass_rule.mode == "weighted":
            cats = {c.category or "general" for c in self.criteria}
            unknown = sorted(set(self.pass_rule.category_weights) - cats)
            if unknown:
                raise LocatedValueError(f"pass_rule.category_weights names categories no criterion has: {', '.join(unknown)}", "pass_rule", "category_weights", unknown[0])
        problems = consistency_problems(self)
        if problems:
            message, loc = problems[0]
            raise LocatedValueError(message, *loc)
        return self

    @property
    def judged_criteria(self) -> list[Criterion]:
        return [c for c in self.criteria if c.judged]

    @property
    def deterministic_criteria(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.judged]


def load_rubric(path: Path) -> Rubric:
    rubric = load_model(path, Rubric, what="rubric")
    rubric.source_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return rubric


