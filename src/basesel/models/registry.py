"""Provider name -> backend factory. Each factory imports its SDK lazily."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from .base import ChatModel
from .spec import ModelSpec

# provider -> "module:function"; the function takes (spec, options) and returns a ChatModel.
FACTORIES: dict[str, str] = {
    "embedded": "basesel.models.llamacpp:create_embedded",
    "llamacpp": "basesel.models.llamacpp:create",
    "openai": "basesel.models.openai_compat:create",
    "vllm": "basesel.models.vllm_engine:create",
    "ollama": "basesel.models.ollama:create",
    "anthropic": "basesel.models.anthropic:create",
    "ray": "basesel.models.ray_engine:create",  # Ray Data LLM (run/endpoints.py's sibling for clusters: docs/scale.md)
}


def create(spec: ModelSpec, options: dict[str, Any]) -> ChatModel:
    module_name, func_name = FACTORIES[spec.provider].split(":")
    factory: Callable[[ModelSpec, dict[str, Any]], ChatModel] = getattr(importlib.import_module(module_name), func_name)
    return factory(spec, options)
