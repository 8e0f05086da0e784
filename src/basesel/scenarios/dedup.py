"""Near-duplicate removal for scenario messages: normalized text, rapidfuzz similarity, a threshold.

Two messages are near-duplicates when the similarity (0-100, rapidfuzz `fuzz.ratio`, an
Indel-distance ratio) of their normalized text is at or above the threshold. Normalizing
lower-cases, drops punctuation and collapses whitespace, so "Hi!  My card was charged twice."
and "hi my card was charged twice" are identical (100). The first occurrence is kept.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, TypeVar

T = TypeVar("T")

DEFAULT_THRESHOLD = 90.0

_PUNCT_RE = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE_RE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case, Unicode-normalize (NFKC), drop punctuation, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCT_RE.sub(" ", text.replace("_", " "))
    return _SPACE_RE.sub(" ", text).strip()


def similarity(a: str, b: str) -> float:
    """Similarity of two messages (0-100) after normalization."""
    from rapidfuzz import fuzz

    return float(fuzz.ratio(normalize(a), normalize(b)))


@dataclass
class Dropped(Generic[T]):
    item: T
    duplicate_of: str  # the kept text it resembles
    score: float


@dataclass
class DedupResult(Generic[T]):
    kept: list[T]
    dropped: list[Dropped[T]]


def _require_rapidfuzz():
    from ..errors import require

    return require("rapidfuzz", "generate", "Near-duplicate removal of generated scenarios")


class NearDuplicateIndex:
    """Texts kept so far; `match` finds the most similar kept text at or above the threshold."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, texts: Iterable[str] = ()):
        if not 0 <= threshold <= 100:
            from ..errors import ConfigError

            raise ConfigError(f"dedup threshold must be between 0 and 100, got {threshold:g}", hint="90 drops close paraphrases; 100 drops only identical (normalized) texts.")
        self.threshold = threshold
        self._texts: list[str] = []
        self._norm: list[str] = []
        self._exact: dict[str, int] = {}
        for t in texts:
            self.add(t)

    def __len__(self) -> int:
        return len(self._texts)

    def match(self, text: str) -> tuple[str, float] | None:
        norm = normalize(text)
        if norm in self._exact:
            return self._texts[self._exact[norm]], 100.0
        if not self._norm or self.threshold >= 100:
            return None
        _require_rapidfuzz()
        from rapidfuzz import fuzz, process

        best = process.extractOne(norm, self._norm, scorer=fuzz.ratio, score_cutoff=self.threshold)
        if best is None:
            return None
        _, score, index = best
        return self._texts[index], float(score)

    def add(self, text: str) -> None:
        norm = normalize(text)
        self._exact.setdefault(norm, len(self._texts))
        self._texts.append(text)
        self._norm.append(norm)


def dedupe(items: list[T], text: Callable[[T], str] = str, threshold: float = DEFAULT_THRESHOLD, existing: Iterable[str] = ()) -> DedupResult[T]:
    """Keep the first of every group of near-duplicates (and drop items resembling `existing` texts)."""
    index = NearDuplicateIndex(threshold, existing)
    kept: list[T] = []
    dropped: list[Dropped[T]] = []
    for item in items:
        t = text(item)
        hit = index.match(t)
        if hit is not None:
            dropped.append(Dropped(item, hit[0], hit[1]))
            continue
        index.add(t)
        kept.append(item)
    return DedupResult(kept, dropped)


def near_duplicate_pairs(texts: list[str], threshold: float = DEFAULT_THRESHOLD) -> list[tuple[int, int, float]]:
    """Every pair (i, j, score) with i < j whose similarity is at or above the threshold."""
    _require_rapidfuzz()
    from rapidfuzz import fuzz

    norm = [normalize(t) for t in texts]
    pairs = []
    for i in range(len(norm)):
        for j in range(i + 1, len(norm)):
            score = float(fuzz.ratio(norm[i], norm[j], score_cutoff=threshold))
            if score >= threshold and (score > 0 or threshold == 0):
                pairs.append((i, j, score))
    return pairs
