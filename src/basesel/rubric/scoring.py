"""Turn check results and judge verdicts into one pass/fail per response, by the rubric's pass rule."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .checks import run_check
from .judge import JudgedCriterion
from .reasons import reason_flag
from .rules import effective_na
from .schema import Criterion, Rubric


@dataclass
class CriterionOutcome:
    id: str
    source: str  # "check" | "judge" | "skipped"
    verdict: str  # yes | no | n/a
    passed: bool | None  # None = not applicable
    reason: str = ""
    agreement: float | None = None  # share of judge samples agreeing with the majority
    na: bool = False  # the criterion was n/a here (passed says how the rubric counts that)
    reason_flag: str | None = None  # "copied" (the reason restates the criterion) | "empty": see rubric/reasons.py

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "source": self.source, "verdict": self.verdict, "passed": self.passed, "reason": self.reason}
        if self.agreement is not None:
            d["agreement"] = round(self.agreement, 3)
        if self.na:
            d["na"] = True
        if self.reason_flag:
            d["reason_flag"] = self.reason_flag
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
    judge_failed: bool = False  # no verdict could be obtained (scored only when the rubric counts that as a fail)

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
            **({"judge_failed": True} if self.judge_failed else {}),
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


def na_outcome(rubric: Rubric | None, c: Criterion, source: str, reason: str) -> CriterionOutcome:
    """An n/a outcome, counted as the rubric declares (pass_rule.na_scoring, or the criterion's own)."""
    scoring = effective_na(rubric, c) if rubric is not None else "exclude"
    passed = {"exclude": None, "pass": True, "fail": False}[scoring]
    if scoring != "exclude":
        reason = f"(n/a, counted as a {scoring} by the rubric) {reason}"
    return CriterionOutcome(c.id, source, "n/a", passed, reason, na=True)


Fact = str | tuple[str, list[str] | None]
"""A measured fact for the judge: plain text (shown for every criterion) or (text, criterion ids)."""


def run_checks(rubric: Rubric, response: str, user_message: str, tags: dict[str, Any]) -> tuple[list[CriterionOutcome], list[Fact]]:
    """Deterministic outcomes, plus the measured facts to hand the judge (scored checks and the rubric's
    unscored `measurements`; a fact meant for some criteria only carries their ids)."""
    outcomes: list[CriterionOutcome] = []
    facts: list[Fact] = []
    for c in rubric.deterministic_criteria:
        if not applies(c, user_message, tags):
            outcomes.append(na_outcome(rubric, c, "check", "not applicable to this scenario"))
            continue
        result = run_check(c, response, user_message)
        outcomes.append(CriterionOutcome(c.id, "check", "yes" if result.passed else "no", result.passed, result.fact))
        if c.share_with_judge:
            facts.append(result.fact if c.share_with is None else (result.fact, list(c.share_with)))
    for m in rubric.measurements:
        fact = run_check(m, response, user_message).fact  # type: ignore[arg-type] - same parameters as a criterion
        facts.append(fact if m.for_criteria is None else (fact, list(m.for_criteria)))
    return outcomes, facts


def majority(verdicts: list[JudgedCriterion]) -> tuple[JudgedCriterion, float]:
    """Majority verdict across judge samples; a tie goes to the stricter verdict ('no' before 'n/a' before 'yes')."""
    counts = Counter(v.verdict for v in verdicts)
    strictness = {"no": 0, "n/a": 1, "yes": 2}
    best = max(counts.items(), key=lambda kv: (kv[1], -strictness[kv[0]]))[0]
    chosen = next(v for v in verdicts if v.verdict == best)
    return chosen, counts[best] / len(verdicts)


def judged_outcomes(criteria: list[Criterion], samples: list[dict[str, JudgedCriterion]], rubric: Rubric | None = None) -> list[CriterionOutcome]:
    outcomes = []
    for c in criteria:
        chosen, agreement = majority([s[c.id] for s in samples])
        flag = reason_flag(chosen.reason, c.statement)
        k_agreement = agreement if len(samples) > 1 else None
        if chosen.verdict == "n/a" and c.na_allowed:
            o = na_outcome(rubric, c, "judge", chosen.reason)
            o.agreement, o.reason_flag = k_agreement, flag
            outcomes.append(o)
            continue
        passed = chosen.verdict == "yes"
        reason = chosen.reason
        if chosen.verdict == "n/a":
            reason = f"(n/a is not a valid answer for {c.id}; counted as a fail) {reason}"
        outcomes.append(CriterionOutcome(c.id, "judge", chosen.verdict, passed, reason, k_agreement, reason_flag=flag))
    return outcomes


def decide(rubric: Rubric, outcomes: list[CriterionOutcome]) -> tuple[bool, float | None, list[str]]:
    """Apply the pass rule. Returns (passed, weighted score or None, failed gate criteria)."""
    by_id = {c.id: c for c in rubric.criteria}
    applicable = [o for o in outcomes if o.passed is not None]
    gates = [o.id for o in applicable if not o.passed and by_id[o.id].critical]
    rule = rubric.pass_rule
    categories: dict[str, list[tuple[float, float]]] = {c.category or "general": [] for c in rubric.criteria}
    for o in applicable:
        c = by_id[o.id]
        categories[c.category or "general"].append((c.weight, 1.0 if o.passed else 0.0))
    total_w, total = 0.0, 0.0
    for cat, items in categories.items():
        if items:
            cat_score = sum(w * s for w, s in items) / sum(w for w, _ in items)
        elif isinstance(rule.empty_category, (int, float)):
            cat_score = float(rule.empty_category)  # declared: an empty category scores this
        else:
            continue  # dropped; the other weights renormalise
        cat_w = rule.category_weights.get(cat, 1.0)  # weighted mode: validated to name every category
        total += cat_w * cat_score
        total_w += cat_w
    score = total / total_w if total_w else None
    if not applicable and score is None:
        return True, None, gates  # nothing applied and every category is dropped, as declared
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
    """Combine everything for one response. All judge samples unreadable -> unscored, unless the rubric
    declares `pass_rule.judge_error: fail` (then every judged criterion that applied fails)."""
    outcomes = list(check_outcomes)
    outcomes += [na_outcome(rubric, c, "skipped", "not applicable to this scenario") for c in skipped]
    readable = [s for s in judge_samples if s is not None]
    judge_failed = bool(judged and not readable)
    if judge_failed and rubric.pass_rule.judge_error == "unscored":
        return Assessment(
            scenario_id, sample, scored=False, passed=None, score=None, outcomes=outcomes,
            unscored_reason="the judge's verdict could not be read", judge_samples_read=0, judge_samples_total=len(judge_samples),
            judge_failed=True,
        )
    if judge_failed:
        outcomes += [CriterionOutcome(c.id, "judge", "error", False, "no verdict could be obtained from the judge; counted as a fail (pass_rule.judge_error: fail)") for c in judged]
    elif judged:
        outcomes += judged_outcomes(judged, readable, rubric)
    order = {c.id: i for i, c in enumerate(rubric.criteria)}
    outcomes.sort(key=lambda o: order[o.id])
    passed, score, gates = decide(rubric, outcomes)
    return Assessment(
        scenario_id, sample, scored=True, passed=passed, score=score, outcomes=outcomes, gate_failures=gates,
        judge_samples_read=len(readable), judge_samples_total=len(judge_samples), judge_failed=judge_failed,
    )
