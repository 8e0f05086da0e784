"""CUAD-style extraction over long contracts: sliding windows that cover the whole document, one model
call per window, aggregated to one answer per question.

Windows overlap by exactly `overlap_chars`, so every span no longer than the overlap lies wholly inside
at least one window (a clause cut by one window's end is whole in the next). Window ends back off to a
space when one is near, so words are not split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def windows(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) character ranges covering text[0:len] in order."""
    if size <= overlap:
        raise ValueError("window size must exceed the overlap")
    n = len(text)
    if n <= size:
        return [(0, n)]
    out: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(n, start + size)
        if end < n:
            space = text.rfind(" ", end - max(1, (size - overlap) // 4), end)
            if space > start + overlap:
                end = space
        out.append((start, end))
        if end >= n:
            return out
        start = max(start + 1, end - overlap)


def spans_inside(answers_start: list[int], answers_text: list[str], window: tuple[int, int]) -> list[str]:
    """The gold spans lying wholly inside a window."""
    lo, hi = window
    return [t for s, t in zip(answers_start, answers_text) if s >= lo and s + len(t) <= hi]


@dataclass(frozen=True)
class WindowAnswer:
    present: bool
    answer: str
    valid: bool = True


@dataclass(frozen=True)
class QuestionAnswer:
    present: bool
    answer: str
    score: float  # for AUPR: how many windows found the clause (LLM outputs carry no comparable span score)
    invalid_windows: int
    windows: int


def aggregate(answers: list[WindowAnswer]) -> QuestionAnswer:
    """One answer per question: present if any window found the clause; the answer is the first found,
    in document order; unreadable windows count as not finding it (and are counted)."""
    found = [a for a in answers if a.valid and a.present and a.answer]
    invalid = sum(1 for a in answers if not a.valid)
    return QuestionAnswer(bool(found), found[0].answer if found else "", float(len(found)), invalid, len(answers))


def demo_context(row: dict[str, Any], context_field: str, answers_field: str, size: int = 800) -> str:
    """A short excerpt for a few-shot demonstration: around the first gold span, or the opening."""
    text = str(row.get(context_field) or "")
    answers = row.get(answers_field) or {}
    starts = answers.get("answer_start", []) if isinstance(answers, dict) else []
    if not starts:
        return text[:size]
    s = max(0, int(starts[0]) - size // 3)
    return text[s : s + size]
