"""Short quotes of model output for documents: whitespace collapsed, cut at a word boundary."""

from __future__ import annotations

QUOTE_CHARS = 400
# Cut back to a space only if that keeps most of the budget: one very long word (a URL) is cut hard.
_MIN_KEEP = 0.6


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` on one line, at most `limit` characters plus " ..." where it was cut, never mid-word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]  # one more: a space right after the limit means the last word is whole
    space = cut.rfind(" ")
    cut = cut[:space] if space >= limit * _MIN_KEEP else cut[:limit]
    return cut.rstrip(" ,;:-") + " ..."
