"""Parse model specs: `provider/model` strings, a bare Ollama tag, or `embedded`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from ..errors import ConfigError

PROVIDERS = ("embedded", "llamacpp", "openai", "vllm", "ollama", "anthropic")
EMBEDDED_ALIASES = ("embedded", "smollm2")
DEFAULT_VLLM_URL = "http://localhost:8000/v1"


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    name: str
    base_url: str | None = None

    def __str__(self) -> str:
        return self.provider if self.provider == "embedded" else f"{self.provider}/{self.name}"


def parse_spec(spec: str, base_url: str | None = None) -> ModelSpec:
    """`ollama/qwen3:8b`, `llamacpp/model.gguf`, `openai/gpt-4o-mini`, `anthropic/...`, `vllm/...`,
    a bare Ollama tag (`qwen3:8b`, the method's usage), a bare `*.gguf` path, or `embedded`."""
    spec = spec.strip()
    if not spec:
        raise ConfigError("empty model spec", hint="Use e.g. --model embedded, --model qwen3:8b or --model openai/gpt-4o-mini.")
    if spec.lower() in EMBEDDED_ALIASES:
        return ModelSpec("embedded", "SmolLM2-135M-Instruct", None)
    provider, sep, name = spec.partition("/")
    if sep and provider.lower() in PROVIDERS:
        provider = provider.lower()
        if not name:
            raise ConfigError(f"model spec '{spec}' names a provider but no model", hint=f"Write it as {provider}/<model>.")
        if provider == "vllm":
            base_url = base_url or DEFAULT_VLLM_URL
        return ModelSpec(provider, name, base_url)
    if spec.endswith(".gguf"):
        return ModelSpec("llamacpp", spec, None)
    if sep and "." not in provider and ":" not in provider and not spec.startswith(("/", ".", "~")):
        # "foo/bar" where foo is not a provider: could be an Ollama namespace (user/model) or a typo.
        if ":" not in name:
            raise ConfigError(
                f"unknown provider '{provider}' in model spec '{spec}'",
                hint=f"Known providers: {', '.join(PROVIDERS)}. A bare Ollama tag like qwen3:8b needs no provider.",
            )
    return ModelSpec("ollama", spec, base_url)


def is_local_url(url: str | None) -> bool:
    """True for loopback / private hosts, which need no API key."""
    if not url:
        return False
    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".local") or host.startswith(("10.", "192.168.", "host.docker.internal"))


def redact_url(url: str | None) -> str | None:
    """Drop user:password@ and query strings (tokens hide there) before a URL is written anywhere."""
    if not url:
        return url
    parts = urlparse(url)
    if not parts.username and not parts.password and not parts.query:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc, query="").geturl()
