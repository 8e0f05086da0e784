"""Pass rates by every scenario dimension, by criterion and by rubric category, each with its 95% Wilson
interval, accumulated one record at a time (a 5,000-scenario run is never held as a list for this).

    bd = Breakdown.for_manifest(manifest)       # criterion -> category/weight from the rubric
    for assessment in scored: bd.add(assessment, tags_of_its_response)
    bd.result()  # {"dimensions": ..., "criteria": ..., "categories": ...}
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..gate import wilson_interval

# Tags every generated scenario carries, in the order a reader expects them; others follow by name.
KNOWN_DIMENSIONS = ("topic", "subtopic", "style", "edge_case")
# A free-form tag (an expected answer, a note) is not a dimension: more values than this, or long ones.
MAX_VALUES = 50
MAX_VALUE_CHARS = 80


@dataclass(frozen=True)
class CriterionInfo:
    id: str
    name: str | None = None
    category: str = "general"
    weight: float = 1.0
    critical: bool = False


def rubric_criteria(manifest: Mapping[str, Any]) -> tuple[list[CriterionInfo], dict[str, float]]:
    """The rubric's criteria and category weights as the run recorded them (manifest.rubric), else read
    from the rubric file when it is still the same file (same sha256), else nothing (categories unknown)."""
    rubric = manifest.get("rubric") or {}
    rows = rubric.get("criteria")
    if isinstance(rows, list):
        infos = [CriterionInfo(r["id"], r.get("name"), r.get("category") or "general", float(r.get("weight", 1.0)), bool(r.get("critical"))) for r in rows if isinstance(r, dict) and "id" in r]
        return infos, dict(rubric.get("category_weights") or {})
    path = rubric.get("path")
    if not path or not Path(path).is_file():
        return [], {}
    try:
        from ..rubric import load_rubric

        loaded = load_rubric(Path(path))
    except Exception:  # a rubric edited into something invalid since: the categories are simply unknown
        return [], {}
    if rubric.get("sha256") and loaded.source_sha256 != rubric.get("sha256"):
        return [], {}
    return criteria_of(loaded), dict(loaded.pass_rule.category_weights)


def criteria_of(rubric: Any) -> list[CriterionInfo]:
    return [CriterionInfo(c.id, c.name, c.category or "general", float(c.weight), bool(c.critical)) for c in rubric.criteria]


def rate_row(passed: int, total: int) -> dict[str, Any]:
    low, high = wilson_interval(passed, total) if total else (None, None)
    return {"passed": passed, "scored": total, "rate": round(passed / total, 4) if total else None, "ci95": [round(low, 4), round(high, 4)] if total else None}


def dimension_value(value: Any) -> str | None:
    """A tag value as a dimension value (text), or None for what is not one (lists, objects, long text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value)
        return text if text and len(text) <= MAX_VALUE_CHARS else None
    return None


class Breakdown:
    def __init__(self, criteria: Iterable[CriterionInfo] = (), category_weights: Mapping[str, float] | None = None):
        self.criteria = {c.id: c for c in criteria}
        self.category_weights = dict(category_weights or {})
        self._dims: dict[str, dict[str, list[int]]] = defaultdict(dict)
        self._free_form: set[str] = set()
        self._crit: dict[str, list[int]] = {}
        self._cat: dict[str, list[float]] = {}  # category -> [score sum, responses, fully passed]

    @classmethod
    def for_manifest(cls, manifest: Mapping[str, Any]) -> Breakdown:
        return cls(*rubric_criteria(manifest))

    def add(self, assessment: Mapping[str, Any], tags: Mapping[str, Any] | None) -> None:
        """One scored assessment and the tags of its scenario."""
        if not assessment.get("scored"):
            return
        ok = 1 if assessment.get("passed") else 0
        for tag, raw in (tags or {}).items():
            if tag in self._free_form or raw is None:
                continue
            value = dimension_value(raw)
            values = self._dims[tag]
            if value is None or (value not in values and len(values) >= MAX_VALUES and tag not in KNOWN_DIMENSIONS):
                self._free_form.add(tag)
                self._dims.pop(tag, None)
                continue
            counts = values.setdefault(value, [0, 0])
            counts[0] += ok
            counts[1] += 1
        per_cat: dict[str, list[float]] = {}
        for c in assessment.get("criteria", []):
            if c.get("passed") is None:
                continue
            counts = self._crit.setdefault(c["id"], [0, 0])
            counts[0] += 1 if c["passed"] else 0
            counts[1] += 1
            info = self.criteria.get(c["id"])
            if info is not None:
                w = per_cat.setdefault(info.category, [0.0, 0.0, 1.0])
                w[0] += info.weight * (1.0 if c["passed"] else 0.0)
                w[1] += info.weight
                if not c["passed"]:
                    w[2] = 0.0
        for cat, (got, weight, full) in per_cat.items():
            if weight <= 0:
                continue
            acc = self._cat.setdefault(cat, [0.0, 0, 0])
            acc[0] += got / weight
            acc[1] += 1
            acc[2] += int(full)

    def result(self) -> dict[str, Any]:
        order = [d for d in KNOWN_DIMENSIONS if d in self._dims] + sorted(d for d in self._dims if d not in KNOWN_DIMENSIONS)
        dimensions = {d: {v: rate_row(*self._dims[d][v]) for v in sorted(self._dims[d])} for d in order}
        rubric_order = list(self.criteria) + sorted(c for c in self._crit if c not in self.criteria)
        criteria = {}
        for cid in rubric_order:
            if cid not in self._crit:
                continue
            info = self.criteria.get(cid)
            criteria[cid] = rate_row(*self._crit[cid]) | {"name": info.name if info else None, "category": info.category if info else None, "critical": bool(info and info.critical)}
        categories = {}
        for cat in dict.fromkeys(c.category for c in self.criteria.values()):
            if cat not in self._cat:
                continue
            total, n, full = self._cat[cat]
            categories[cat] = {
                "mean_score": round(total / n, 4),
                "weight": self.category_weights.get(cat, 1.0),
                "responses": int(n),
                "criteria": [c.id for c in self.criteria.values() if c.category == cat],
                "all_passed": rate_row(int(full), int(n)),
            }
        return {"dimensions": dimensions, "free_form_tags": sorted(self._free_form), "criteria": criteria, "categories": categories}
