"""Is a judge's reason a reason? A reason that restates the criterion's statement (or is empty) cites
nothing in the response: the judge did not read it, or cannot say why. Told per verdict, so it needs
no sample size: one verdict is enough to see it."""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata

# Normalized similarity (difflib ratio, 0-1) at or above which a reason is the statement copied back.
COPY_SIMILARITY = 0.8

_NON_WORD = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", _NON_WORD.sub(" ", text)).strip()


@functools.lru_cache(maxsize=256)
def _norm_statement(statement: str) -> str:
    return _norm(statement)  # a rubric has a handful of statements, normalised thousands of times


def reason_flag(reason: str, statement: str) -> str | None:
    """'empty' for no reason, 'copied' for the statement restated (near-verbatim, or quoted whole with
    little added), None for a reason of the judge's own."""
    r, s = _norm(reason), _norm_statement(statement)
    if not r:
        return "empty"
    if not s:
        return None
    if s in r and len(r) <= 1.3 * len(s) + 20:
        return "copied"
    if r in s and len(r) >= 0.6 * len(s):
        return "copied"  # most of the statement, cut short
    # cheap upper bounds first: most reasons are nowhere near the statement (5000 scenarios x 6 criteria).
    # The lengths alone bound the ratio (difflib's real_quick_ratio), before any matcher is built.
    if 2 * min(len(r), len(s)) < COPY_SIMILARITY * (len(r) + len(s)):
        return None
    matcher = difflib.SequenceMatcher(None, r, s, autojunk=False)
    if matcher.quick_ratio() >= COPY_SIMILARITY and matcher.ratio() >= COPY_SIMILARITY:
        return "copied"
    return None
