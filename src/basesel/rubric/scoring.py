"""Turn check results and judge verdicts into one pass/fail per response, by the rubric's pass rule."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .checks import run_check
from .judge import JudgedCriterion
from .schema import Criterion, Rubric


@dataclass
class CriterionOutcome:
    id: str
    source: str  # "check" | "judge" | "skipped"
    verdict: str  # yes | no | n/a
    passed: bool | None  # None = not applicable
    reason: str = ""
    agreement: float | None = None  # share of judge samples agreeing with the majority

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "source": self.source, "verdict": self.verdict, "passed": self.passed, "reason": self.reason}
        if self.agreement is not None:
            d["agreement"] = round(self.agreement, 3)
        return d


@dataclass
class Assessment:
    scenario_id: str
    sample: int
    scored: bool
    passed: bool | None
    score: float | None
    outcomes: list[CriterionOutcome] = field(default_factory=list)
    gate_failures: list[str] = field(default_factory=list)
    unscored_reason: str | None = None
    judge_samples_read: int = 0
    judge_samples_total: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario_id": self.scenario_id,
            "sample": self.sample,
            "scored": self.scored,
            "passed": self.passed,
            "score": None if self.score is None else round(self.score, 4),
            "gate_failures": self.gate_failures,
            "unscored_reason": self.unscored_reason,
            "judge_samples": {"read": self.judge_samples_read, "total": self.judge_samples_total},
            "criteria": [o.to_dict() for o in self.outcomes],
        }


def applies(criterion: Criterion, user_message: str, tags: dict[str, Any]) -> bool:
    rule = criterion.applies_when
    if rule is None:
        return True
    if rule.input_matches and not re.search(rule.input_matches, user_message, re.IGNORECASE):
        return False
    for key, wanted in (rule.tags or {}).items():
        wanted_list = wanted if isinstance(wanted, list) else [wanted]
        if str(tags.get(key)) not in [str(w) for w in wanted_list]:
            return False
    return True


def run_checks(rubric: Rubric, response: str, user_message: str, tags: dict[str, Any]) -> tuple[list[CriterionOutcome], list[str]]:
    """Deterministic outcomes, plus the measured facts to hand the judge."""
    outcomes, facts = [], []
    for c in rubric.deterministic_criteria:
        if not applies(c, user_message, tags):
            outcomes.append(CriterionOutcome(c.id, "check", "n/a", None, "not applicable to this scenario"))
            continue
        result = run_check(c, response, user_message)
        outcomes.append(CriterionOutcome(c.id, "check", "yes" if result.passed else "no", result.passed, result.fact))
        if c.share_with_judge:
            facts.append(result.fact)
    return outcomes, facts


def majority(verdicts: list[JudgedCriterion]) -> tuple[JudgedCriterion, float]:
    """Majority verdict across judge samples; a tie goes to the stricter verdict ('no' before 'n/a' before 'yes')."""
    counts = Counter(v.verdict for v in verdicts)
    strictness = {"no": 0, "n/a": 1, "yes": 2}
    best = max(counts.items(), key=lambda kv: (kv[1], -strictness[kv[0]]))[0]
    chosen = next(v for v in verdicts if v.verdict == best)
    return chosen, counts[best] / len(verdicts)


def judged_outcomes(criteria: list[Criterion], samples: list[dict[str, JudgedCriterion]]) -> list[CriterionOutcome]:
    outcomes = []
    for c in criteria:
        chosen, agreement = majority([s[c.id] for s in samples])
        if chosen.verdict == "yes":
            passed: bool | None = True
        elif chosen.verdict == "n/a":
            passed = None if c.na_allowed else False
        else:
            passed = False
        reason = chosen.reason
        if chosen.verdict == "n/a" and not c.na_allowed:
            reason = f"(n/a is not a valid answer for {c.id}; counted as a fail) {reason}"
        outcomes.append(CriterionOutcome(c.id, "judge", chosen.verdict, passed, reason, agreement if len(samples) > 1 else None))
    return outcomes


def decide(rubric: Rubric, outcomes: list[CriterionOutcome]) -> tuple[bool, float | None, list[str]]:
    """Apply the pass rule. Returns (passed, weighted score or None, failed gate criteria)."""
    by_id = {c.id: c for c in rubric.criteria}
    applicable = [o for o in outcomes if o.passed is not None]
    gates = [o.id for o in applicable if not o.passed and by_id[o.id].critical]
    if not applicable:
        return True, None, gates
    rule = rubric.pass_rule
    categories: dict[str, list[tuple[float, float]]] = {}
    for o in applicable:
        c = by_id[o.id]
        categories.setdefault(c.category or "general", []).append((c.weight, 1.0 if o.passed else 0.0))
    total_w, total = 0.0, 0.0
    for cat, items in categories.items():
        cat_score = sum(w * s for w, s in items) / sum(w for w, _ in items)
        cat_w = rule.category_weights.get(cat, 1.0)
        total += cat_w * cat_score
        total_w += cat_w
    score = total / total_w if total_w else None
    if rule.mode == "all":
        passed = all(o.passed for o in applicable)
    else:
        passed = score is not None and score >= rule.threshold - 1e-9 and not gates
    return passed, score, gates


def assess(
    rubric: Rubric,
    scenario_id: str,
    sample: int,
    check_outcomes: list[CriterionOutcome],
    judged: list[Criterion],
    judge_samples: list[dict[str, JudgedCriterion] | None],
    skipped: list[Criterion],
) -> Assessment:
    """Combine everything for one response. All judge samples unreadable -> unscored (never a fail)."""
    outcomes = list(check_outcomes)
    outcomes += [CriterionOutcome(c.id, "skipped", "n/a", None, "not applicable to this scenario") for c in skipped]
    readable = [s for s in judge_samples if s is not None]
    if judged and not readable:
        return Assessment(
            scenario_id, sample, scored=False, passed=None, score=None, outcomes=outcomes,
            unscored_reason="the judge's verdict could not be read", judge_samples_read=0, judge_samples_total=len(judge_samples),
        )
    if judged:
        outcomes += judged_outcomes(judged, readable)
    order = {c.id: i for i, c in enumerate(rubric.criteria)}
    outcomes.sort(key=lambda o: order[o.id])
    passed, score, gates = decide(rubric, outcomes)
    return Assessment(
        scenario_id, sample, scored=True, passed=passed, score=score, outcomes=outcomes, gate_failures=gates,
        judge_samples_read=len(readable), judge_samples_total=len(judge_samples),
    )
