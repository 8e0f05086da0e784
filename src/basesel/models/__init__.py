"""Model backends behind one async protocol. Heavy SDKs are imported lazily, per backend."""

from __future__ import annotations

from .base import ChatModel, Completion, GenerationParams, Message, ModelIdentity, Usage, split_thinking
from .spec import ModelSpec, parse_spec

__all__ = [
    "ChatModel",
    "Completion",
    "GenerationParams",
    "Message",
    "ModelIdentity",
    "ModelSpec",
    "Usage",
    "create_model",
    "parse_spec",
    "split_thinking",
]


def create_model(spec: str | ModelSpec, *, base_url: str | None = None, options: dict | None = None) -> ChatModel:
    """Build a backend for a spec. Raises BaseselError with an actionable message on failure."""
    from .registry import create

    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec, base_url)
    return create(parsed, options or {})
