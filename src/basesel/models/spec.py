"""Parse model specs: `provider/model` strings, a bare Ollama tag, or `embedded`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse, urlsplit

from ..errors import ConfigError

PROVIDERS = ("embedded", "llamacpp", "openai", "vllm", "ollama", "anthropic", "ray")
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
    if base_url is not None:
        check_base_url(base_url, f" for model '{spec}'")
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


def check_base_url(url: str, where: str = "") -> str:
    """A base URL must parse (an unclosed IPv6 bracket or a port like ':abc' would otherwise surface as a
    ValueError deep in an SDK). A URL without a scheme (`127.0.0.1:11434`, as OLLAMA_HOST is often set) is
    read as http://, the way the Ollama backend reads it."""
    full = url.strip() if "://" in url else f"http://{url.strip()}"
    try:
        parts = urlsplit(full)
        parts.port  # noqa: B018 - raises on a non-numeric or out-of-range port
        problem = None if parts.scheme.lower() in ("http", "https") else f"scheme '{parts.scheme}' is not http or https"
        if problem is None and not parts.hostname:
            problem = "it names no host"
    except ValueError as exc:
        problem = str(exc)
    if problem:
        raise ConfigError(
            f"invalid base URL '{redact_url(full)}'{where}: {problem}",
            hint="Write it as http://host:port/path, e.g. http://127.0.0.1:8000/v1 (an IPv6 host in brackets: http://[::1]:11434).",
        )
    return url


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
    try:
        parts = urlparse(url)
        port = parts.port
    except ValueError:  # unparseable (an unclosed IPv6 bracket, a port like ':abc'): cut user:password@ and the query by hand
        return re.sub(r"\?.*$", "", re.sub(r"^((?:[A-Za-z][\w+.-]*:)?//)?[^/@]*@", r"\1", url))
    if not parts.username and not parts.password and not parts.query:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    netloc = f"{host}:{port}" if port else host
    return parts._replace(netloc=netloc, query="").geturl()


def split_query(url: str | None) -> tuple[str | None, dict[str, str] | None]:
    """A base URL's query (`?key=...`, `?api-version=...`) apart from it. The OpenAI and Anthropic SDKs
    append paths after the whole base URL (`/v1?key=Kchat/completions`), so it goes in `default_query`."""
    if not url or "?" not in url:
        return url, None
    from urllib.parse import parse_qsl

    base, _, query = url.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True)) or None
