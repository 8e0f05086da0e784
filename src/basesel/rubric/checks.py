"""Deterministic criteria: measured, not judged."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .schema import Criterion

_WORD_RE = re.compile(r"\b[\w'’-]+\b", re.UNICODE)


def word_count(text: str) -> int:
    return len(_WORD_RE.findall(text))


@dataclass
class CheckResult:
    passed: bool
    fact: str  # what was measured, in words; also handed to the judge


def run_check(criterion: Criterion, response: str, user_message: str) -> CheckResult:
    kind = criterion.kind
    if kind in ("regex_must_match", "regex_must_not_match"):
        found = re.search(criterion.pattern or "", response, re.IGNORECASE | re.MULTILINE) is not None
        ok = found if kind == "regex_must_match" else not found
        return CheckResult(ok, f"pattern /{criterion.pattern}/ {'found' if found else 'not found'} in the response")
    if kind in ("max_words", "min_words"):
        n = word_count(response)
        limit = criterion.value or 0
        ok = n <= limit if kind == "max_words" else n >= limit
        return CheckResult(ok, f"response has {n} words ({'max' if kind == 'max_words' else 'min'} {limit:g})")
    if kind in ("contains", "not_contains"):
        lowered = response.lower()
        hits = [t for t in criterion.terms or [] if t.lower() in lowered]
        ok = bool(hits) if kind == "contains" else not hits
        shown = ", ".join(repr(h) for h in hits) if hits else "none"
        return CheckResult(ok, f"terms found: {shown}")
    if kind == "json_valid":
        try:
            json.loads(_strip_fence(response))
            return CheckResult(True, "response parses as JSON")
        except ValueError as exc:
            return CheckResult(False, f"response is not valid JSON ({exc.msg})")
    if kind == "length_ratio":
        n_resp, n_user = word_count(response), max(1, word_count(user_message))
        ratio = n_resp / n_user
        ok = True
        if criterion.max_ratio is not None and ratio > criterion.max_ratio:
            ok = criterion.min_words_floor is not None and n_resp <= criterion.min_words_floor
        if criterion.min_ratio is not None and ratio < criterion.min_ratio:
            ok = False
        bounds = []
        if criterion.min_ratio is not None:
            bounds.append(f">= {criterion.min_ratio:g}x")
        if criterion.max_ratio is not None:
            bounds.append(f"<= {criterion.max_ratio:g}x")
        return CheckResult(ok, f"response is {n_resp} words for a {n_user}-word message (ratio {ratio:.1f}x; allowed {' and '.join(bounds)})")
    raise ValueError(f"not a deterministic criterion kind: {kind}")


def _strip_fence(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = re.sub(r"^```[a-zA-Z]*\n?", "", stripped)
        stripped = re.sub(r"\n?```$", "", stripped)
    return stripped
