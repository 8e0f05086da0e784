"""The one protocol every model backend implements."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from ..errors import ConfigError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters. Everything here is part of the cache key."""

    temperature: float = 0.7
    max_tokens: int = 1024
    seed: int | None = 0
    top_p: float | None = None
    think: bool | None = None  # thinking models: None = backend default, False = disable

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    def sampling_kwargs(self) -> dict[str, Any]:
        """The OpenAI-style sampling arguments, leaving out the unset ones."""
        out: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.seed is not None:
            out["seed"] = self.seed
        if self.top_p is not None:
            out["top_p"] = self.top_p
        return out


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    thinking_tokens: int = 0


@dataclass
class Completion:
    text: str
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cost_usd: float | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "usage": self.usage.__dict__.copy(),
            "latency_s": self.latency_s,
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        return cls(
            text=data["text"],
            finish_reason=data.get("finish_reason"),
            usage=Usage(**data.get("usage", {})),
            latency_s=data.get("latency_s", 0.0),
            cost_usd=data.get("cost_usd"),
        )


@dataclass
class ModelIdentity:
    """What a model is, precisely enough to key a cache and reproduce a run."""

    provider: str
    name: str
    endpoint: str | None = None  # base URL or file path; calls sharing it share a concurrency limit
    digest: str | None = None  # GGUF sha256, Ollama digest ...
    facts: dict[str, Any] = field(default_factory=dict)  # parameters, quantization, context, licence ...
    think: bool | None = None  # this model's own thinking setting (-o think=...), over GenerationParams.think
    adapter: dict[str, Any] | None = None  # a LoRA on top of the base (-o lora=PATH): {"path", "sha256", "scale"}

    @property
    def spec(self) -> str:
        return f"{self.provider}/{self.name}"

    def cache_identity(self) -> dict[str, Any]:
        out = {"provider": self.provider, "name": self.name, "endpoint": self.endpoint, "digest": self.digest}
        if self.think is not None:  # it changes the answers; left out when unset so existing cache keys still hit
            out["think"] = self.think
        if self.adapter is not None:  # the adapter's content and scale change the answers, its location does not
            out["adapter"] = {"sha256": self.adapter.get("sha256"), "scale": self.adapter.get("scale")}
        return out

    def to_dict(self) -> dict[str, Any]:
        out = {"provider": self.provider, "name": self.name, "endpoint": self.endpoint, "digest": self.digest, "facts": self.facts}
        if self.think is not None:
            out["think"] = self.think
        if self.adapter is not None:
            out["adapter"] = dict(self.adapter)
        return out


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: messages in; text, usage, latency and finish reason out."""

    identity: ModelIdentity
    default_concurrency: int

    async def generate(
        self,
        messages: list[Message],
        params: GenerationParams,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion: ...

    async def aclose(self) -> None: ...

    # Optional hooks (looked up with getattr):
    #   async def describe(self) -> None   fills identity (digest, facts) before any cache lookup
    #   async def check(self) -> None      preflight run once before the first real call


_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
_CLOSE = "</think>"


def split_thinking(text: str) -> tuple[str, str]:
    """Split Qwen3-style `<think>...</think>` blocks from the answer. Returns (answer, thinking).
    Qwen3/R1 chat templates often put the opening `<think>` in the prompt, so a reply may start inside the
    block: text before a first `</think>` with no `<think>` ahead of it is thinking too."""
    lead = ""
    close = text.find(_CLOSE)
    if close != -1 and "<think>" not in text[:close]:
        lead, text = text[: close + len(_CLOSE)], text[close + len(_CLOSE) :]
    thinking = lead + "".join(m.group(0) for m in _THINK_RE.finditer(text))
    answer = _THINK_RE.sub("", text).strip()
    return answer, thinking


def with_model_think(params: GenerationParams, think: bool | None) -> GenerationParams:
    """A model's own thinking setting (-o think=...) wins over the run-wide --think/--no-think."""
    return params if think is None else replace(params, think=think)


def _option_hint(key: str, example: Any) -> str:
    return f"Set it as -o {key}={example} (--judge-option {key}={example} for the judge), or leave it out for the default."


def number_option(options: dict[str, Any], key: str, default: float | int, *, kind: type = float, model: str = "") -> Any:
    """A numeric backend option (timeout, n_ctx ...), checked: a typo is a ConfigError naming the option,
    not a ValueError deep in a backend. Must be above zero."""
    raw = options.get(key, default)
    what = "a whole number" if kind is int else "a number"
    owner = f" for {model}" if model else ""
    try:
        if isinstance(raw, bool) or (kind is int and isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(raw)  # True is an int to Python, not to a user; 81.5 tokens is no context size
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"option {key}={raw!r}{owner} is not {what}", hint=_option_hint(key, default)) from None
    if value <= 0:
        raise ConfigError(f"option {key}={raw!r}{owner} must be above zero", hint=_option_hint(key, default))
    return value


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def bool_option(options: dict[str, Any], key: str, default: bool | None = None, *, model: str = "") -> bool | None:
    """A true/false backend option (think, pull); `-o pull=no` must not count as true."""
    raw = options.get(key, default)
    if raw is None or isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    owner = f" for {model}" if model else ""
    raise ConfigError(f"option {key}={raw!r}{owner} is not true or false", hint=f"Set it as -o {key}=true or -o {key}=false (--judge-option for the judge); true or false are the values it takes.")


def rough_token_count(text: str) -> int:
    """Approximate token count (about 4 characters a token) when a backend does not report one."""
    return (len(text) + 3) // 4


def retry_after_seconds(response: Any, *, now: float | None = None) -> float | None:
    """The Retry-After header of an HTTP error response, in seconds from now, when the server sent one.
    RFC 9110 allows either a number of seconds or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`)."""
    try:
        value = response.headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP date is always GMT; one without a zone is not one
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def is_connect_timeout(exc: BaseException) -> bool:
    """An SDK's timeout error wraps the HTTP client's: ConnectTimeout/PoolTimeout mean nothing answered at all,
    while a read timeout means a server is there but busy (llama.cpp's answers /models only between generations)."""
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ in ("ConnectTimeout", "PoolTimeout")
