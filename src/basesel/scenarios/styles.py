"""Built-in message styles: the templates shipped in templates/scenario-styles.yaml, under the names
people give styles in their own taxonomies (`casual` is conversational, `rant` is venting ...)."""

from __future__ import annotations

from functools import lru_cache

ALIASES = {
    "short": "terse", "brief": "terse", "concise": "terse", "minimal": "terse", "one_liner": "terse", "curt": "terse",
    "casual": "conversational", "chatty": "conversational", "friendly": "conversational", "informal": "conversational", "natural": "conversational",
    "long": "detailed", "verbose": "detailed", "elaborate": "detailed", "thorough": "detailed", "in_depth": "detailed", "narrative": "detailed",
    "rant": "venting", "emotional": "venting", "distressed": "venting", "upset": "venting", "outpouring": "venting",
    "professional": "formal", "polite": "formal",
    "worried": "anxious", "nervous": "anxious", "panicked": "anxious",
    "angry": "frustrated", "annoyed": "frustrated", "hostile": "frustrated", "irritated": "frustrated",
    "doubtful": "skeptical", "sceptical": "skeptical", "resistant": "skeptical",
    "rambling": "rambling", "stream_of_consciousness": "rambling",
    "direct": "question", "questioning": "question", "inquisitive": "question",
}


@lru_cache(maxsize=1)
def builtin_templates() -> dict[str, list[str]]:
    from ..paths import bundled
    from ..yamlio import safe_load

    return safe_load((bundled("templates") / "scenario-styles.yaml").read_text(encoding="utf-8"))


def canonical_style(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return ALIASES.get(key, key)


def templates_for(name: str) -> list[str]:
    """The built-in templates for a style name (or one of its aliases); [] when there are none."""
    return list(builtin_templates().get(canonical_style(name), []))


def known_style_names() -> str:
    return ", ".join(sorted(builtin_templates()))
