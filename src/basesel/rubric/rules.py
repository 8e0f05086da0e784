"""Rubric rules that real rubrics declare rather than leave implied: how n/a scores, what an empty
category is worth, whether a judge error counts as a fail, decision-level gates on critical criteria,
and measurements handed to the judge without being scored. `schema.py` holds the fields; this module
holds their models and the consistency checks that turn a silent trap into an error."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from .schema import Rubric

NaScoring = Literal["exclude", "pass", "fail"]
"""How an n/a outcome (the judge answered n/a where allowed, or `applies_when` left the criterion out)
counts: `exclude` (left out of its category's mean: today's behaviour), `pass`, or `fail`."""

JudgeErrorScoring = Literal["unscored", "fail"]
"""What a response whose judge verdict could not be obtained becomes: `unscored` (left out of the pass
rate, the default) or `fail` (every judged criterion that applied fails; critical ones fail as gates)."""

DETERMINISTIC_KINDS = ("regex_must_match", "regex_must_not_match", "max_words", "min_words", "contains", "not_contains", "json_valid", "length_ratio")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DecisionGate(_Strict):
    """A decision-level gate on a critical criterion: over the scenarios the criterion applies to, the
    failure rate may not exceed `max_fail_rate` (0 = zero tolerance: one failure breaches it). A breach
    blocks a DEPLOY decision whatever the overall pass rate (exit code 8)."""

    max_fail_rate: float = Field(default=0.0, ge=0, lt=1)
    """Largest tolerated failure rate among the scenarios the criterion applies to; 0 = zero tolerance."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    """Confidence of the gate's own Wilson interval on its failure rate."""
    on_unproven: Literal["warn", "block"] = "warn"
    """When no failure breaches the gate but the interval's upper end is above `max_fail_rate` (too few
    scenarios to show it is below): `warn` (reported) or `block` (treated as a breach)."""
    reason: str | None = None
    """Why the gate exists, quoted in the document when it blocks (e.g. 'a missed crisis can cost a life')."""


class Measurement(_Strict):
    """A deterministic measurement handed to the judge as a fact, without being a scored criterion,
    e.g. the word count for a conciseness criterion. Same kinds and parameters as deterministic criteria."""

    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    kind: Literal["regex_must_match", "regex_must_not_match", "max_words", "min_words", "contains", "not_contains", "json_valid", "length_ratio"]
    pattern: str | None = None
    value: int | float | None = None
    terms: list[str] | None = None
    min_ratio: float | None = None
    max_ratio: float | None = None
    min_words_floor: int | None = None
    for_criteria: list[str] | None = None
    """Judged criterion ids the fact is shown with; omitted = every judged criterion."""

    @model_validator(mode="after")
    def _params(self) -> Measurement:
        need = {"regex_must_match": "pattern", "regex_must_not_match": "pattern", "max_words": "value", "min_words": "value", "contains": "terms", "not_contains": "terms"}.get(self.kind)
        if need and getattr(self, need) is None:
            raise ValueError(f"measurement kind '{self.kind}' needs field: {need}")
        if self.kind == "length_ratio" and self.min_ratio is None and self.max_ratio is None:
            raise ValueError("measurement kind 'length_ratio' needs min_ratio and/or max_ratio")
        if self.pattern is not None:
            import re

            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {self.pattern!r}: {exc}") from exc
        return self


def effective_na(rubric: Rubric, criterion) -> NaScoring:
    return criterion.na_scoring or rubric.pass_rule.na_scoring


def _can_be_na(rubric: Rubric, criterion) -> bool:
    return bool(criterion.na_allowed or criterion.applies_when is not None)


def consistency_problems(rubric: Rubric) -> list[tuple[str, tuple]]:
    """Declarations that cannot be what the author meant: (message, location in the YAML)."""
    from .schema import Rubric  # noqa: F401 - for type checkers

    problems: list[tuple[str, tuple]] = []
    rule = rubric.pass_rule
    ids = {c.id for c in rubric.criteria}
    judged = {c.id for c in rubric.criteria if c.judged}
    cats: dict[str, list] = {}
    for c in rubric.criteria:
        cats.setdefault(c.category or "general", []).append(c)

    for name, w in rule.category_weights.items():
        if not math.isfinite(w) or w < 0:
            problems.append((f"pass_rule.category_weights.{name} is {w}: weights must be finite and >= 0", ("pass_rule", "category_weights", name)))
    if rule.mode == "weighted":
        if rule.category_weights or len(cats) > 1:
            missing = sorted(set(cats) - set(rule.category_weights))
            if missing:
                problems.append((
                    f"weighted mode: pass_rule.category_weights has no weight for categor{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} "
                    "(it would silently weigh 1.0); give every category a weight (0 leaves one out of the score)",
                    ("pass_rule", "category_weights"),
                ))
        if rule.category_weights and all(w == 0 for w in rule.category_weights.values()):
            problems.append(("pass_rule.category_weights are all 0: no response could reach the threshold", ("pass_rule", "category_weights")))
        # An empty category: every criterion in it can be n/a and n/a is excluded.
        for cat, members in cats.items():
            can_empty = all(_can_be_na(rubric, c) and effective_na(rubric, c) == "exclude" for c in members)
            if not can_empty:
                continue
            if rule.empty_category is None:
                problems.append((
                    f"category '{cat}' is empty whenever all of its criteria ({', '.join(c.id for c in members)}) are n/a; declare how an empty "
                    "category scores: pass_rule.empty_category: drop (left out, the other weights renormalised) or a score such as 1.0",
                    ("pass_rule",),
                ))
            elif rule.empty_category != "drop":
                weights = {k: rule.category_weights.get(k, 1.0) for k in cats}
                total = sum(weights.values())
                best = (total - weights[cat] + weights[cat] * float(rule.empty_category)) / total if total else 0.0
                if best < rule.threshold - 1e-9:
                    problems.append((
                        f"when category '{cat}' is empty it scores {rule.empty_category}, so the best possible score is {best:.2f}, below the "
                        f"threshold {rule.threshold}: no such response could pass. Raise empty_category, use drop, or lower the threshold",
                        ("pass_rule", "empty_category"),
                    ))
    for i, c in enumerate(rubric.criteria):
        if c.applies_when is not None and effective_na(rubric, c) == "fail" and rule.mode == "all":
            problems.append((
                f"criterion {c.id} applies only to some scenarios and counts n/a as a fail: in 'all' mode every scenario it does not apply to fails",
                ("criteria", i, "na_scoring"),
            ))
        if c.decision_gate is not None and not c.critical:
            problems.append((f"criterion {c.id} has a decision_gate but is not critical: gates protect critical criteria; add critical: true", ("criteria", i, "decision_gate")))
        share = c.share_with
        if share is not None:
            if c.judged:
                problems.append((f"criterion {c.id}: share_with is for deterministic criteria (their measured fact goes to the judge)", ("criteria", i, "share_with")))
            unknown = sorted(set(share) - judged)
            if unknown:
                problems.append((f"criterion {c.id}: share_with names {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not judged criteria of this rubric", ("criteria", i, "share_with")))
    seen = set(ids)
    for j, m in enumerate(rubric.measurements):
        if m.id in seen:
            problems.append((f"measurement id '{m.id}' repeats a criterion or measurement id", ("measurements", j, "id")))
        seen.add(m.id)
        unknown = sorted(set(m.for_criteria or []) - judged)
        if unknown:
            problems.append((f"measurement {m.id}: for_criteria names {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not judged criteria of this rubric", ("measurements", j, "for_criteria")))
    return problems
