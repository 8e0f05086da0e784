"""Ollama backend (official `ollama` SDK, AsyncClient)."""

from __future__ import annotations

import os
import time
from typing import Any

from ..errors import ModelError, RequestRejected, TransientModelError, require, require_installed
from .base import Completion, GenerationParams, Message, ModelIdentity, Usage, bool_option, number_option, rough_token_count, with_model_think
from .spec import ModelSpec, check_base_url, redact_url

DEFAULT_HOST = "http://localhost:11434"


def ollama_host(base_url: str | None) -> str:
    """--base-url, else OLLAMA_HOST, else localhost:11434. Like the `ollama` CLI, a host written without a
    scheme is http and without a port is 11434 (`OLLAMA_HOST=0.0.0.0` must not become port 80)."""
    from urllib.parse import urlsplit

    host = (base_url or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).strip()
    check_base_url(host, "" if base_url else " in OLLAMA_HOST")
    if "://" not in host:
        parts = urlsplit(f"http://{host}")
        if parts.port is None and parts.netloc:
            host = parts._replace(netloc=f"{parts.netloc}:11434").geturl()
        else:
            host = parts.geturl()
    return host.rstrip("/")


def client_credentials(host: str) -> dict[str, Any]:
    """The `ollama` SDK drops a host's user:password@ and ?query (a server behind an authenticating proxy):
    hand them to its httpx client as basic auth and default query parameters instead."""
    from urllib.parse import unquote, urlsplit

    import httpx

    from .spec import split_query

    parts = urlsplit(host)
    extra: dict[str, Any] = {}
    if parts.username or parts.password:
        extra["auth"] = httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))
    query = split_query(host)[1]
    if query:
        extra["params"] = query
    return extra


def not_running(host: str) -> ModelError:
    return ModelError(
        f"cannot reach the Ollama server at {redact_url(host)}",
        hint="Start it with `ollama serve` (or the Ollama app), or point --base-url / OLLAMA_HOST at the right host.",
    )


def not_pulled(model: str, host: str) -> ModelError:
    return ModelError(
        f"model '{model}' is not pulled on the Ollama server at {redact_url(host)}",
        hint=f"Pull it first: `basesel pull {model}` (or `ollama pull {model}`), or add --pull to `basesel baseline` (`-o pull=true` for one model) to pull it automatically.",
    )


class OllamaModel:
    default_concurrency = 4  # a local server

    def __init__(self, spec: ModelSpec, options: dict[str, Any]):
        require_installed("ollama", "ollama", "The Ollama backend")
        self.model_name = spec.name
        self.host = ollama_host(spec.base_url)
        self._timeout = number_option(options, "timeout", 300.0, model=str(spec))
        self._auto_pull = bool_option(options, "pull", False, model=str(spec))
        think = bool_option(options, "think", model=str(spec))  # -o think=false: this model only
        self._options = {k: options[k] for k in ("num_ctx", "num_predict", "top_k", "repeat_penalty") if k in options}
        self._keep_alive = options.get("keep_alive")
        self._client: Any = None
        self.identity = ModelIdentity(provider="ollama", name=spec.name, endpoint=redact_url(self.host), think=think)

    @property
    def client(self) -> Any:
        if self._client is None:
            ollama = require("ollama", "ollama", "The Ollama backend")
            self._client = ollama.AsyncClient(host=self.host, timeout=self._timeout, **client_credentials(self.host))
        return self._client

    async def describe(self) -> None:
        """Before any call: server up, model pulled, and its identity recorded (`ollama show` facts and the
        digest, which keys the cache: a re-pulled tag with new weights must not reuse old answers)."""
        import httpx
        import ollama

        try:
            info = await self.client.show(self.model_name)
        except (ConnectionError, httpx.TransportError) as exc:  # refused, DNS, connect timeout ...
            raise not_running(self.host) from exc
        except ollama.ResponseError as exc:
            if exc.status_code != 404:
                raise ModelError(f"Ollama at {self.identity.endpoint} refused `show {self.model_name}`: {exc.error}") from exc
            if not self._auto_pull:
                raise not_pulled(self.model_name, self.host) from exc
            info = None
        if info is None:
            try:
                await pull_model(self.client, self.model_name)
                info = await self.client.show(self.model_name)
            except (ConnectionError, httpx.TransportError) as exc:
                raise not_running(self.host) from exc
        self.identity.facts.update(show_facts(info))
        self.identity.digest = await self._digest()

    async def _digest(self) -> str | None:
        listing = await self.client.list()
        for m in listing.models:
            if m.model == self.model_name or m.model == f"{self.model_name}:latest":
                return m.digest
        return None

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema: dict | None = None) -> Completion:
        import json

        import httpx
        import ollama
        import pydantic

        params = with_model_think(params, self.identity.think)
        options: dict[str, Any] = {"temperature": params.temperature, "num_predict": params.max_tokens, **self._options}
        if params.seed is not None:
            options["seed"] = params.seed
        if params.top_p is not None:
            options["top_p"] = params.top_p
        kwargs: dict[str, Any] = {"model": self.model_name, "messages": [m.to_dict() for m in messages], "options": options}
        if json_schema is not None:
            kwargs["format"] = json_schema
        if params.think is not None:
            kwargs["think"] = params.think
        if self._keep_alive is not None:
            kwargs["keep_alive"] = self._keep_alive
        start = time.perf_counter()
        try:
            resp = await self.client.chat(**kwargs)
        except ConnectionError as exc:
            raise TransientModelError(f"cannot connect to Ollama at {self.identity.endpoint}") from exc
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise not_pulled(self.model_name, self.host) from exc
            if exc.status_code == 429 or exc.status_code >= 500:
                raise TransientModelError(f"Ollama at {self.identity.endpoint} answered {exc.status_code}: {exc.error}") from exc
            raise RequestRejected(f"Ollama at {self.identity.endpoint} rejected the request ({exc.status_code}): {exc.error}") from exc
        except httpx.TimeoutException as exc:
            raise TransientModelError(f"timed out after {self._timeout:.0f}s waiting for Ollama at {self.identity.endpoint}") from exc
        except httpx.TransportError as exc:
            raise TransientModelError(f"connection to Ollama at {self.identity.endpoint} failed: {type(exc).__name__}") from exc
        except (json.JSONDecodeError, pydantic.ValidationError) as exc:  # a 200 that is not JSON, or has no message
            what = "is not JSON" if isinstance(exc, json.JSONDecodeError) else "lacks " + ", ".join(str(e["loc"][0]) for e in exc.errors()[:3])
            raise TransientModelError(f"Ollama at {self.identity.endpoint} sent a reply that {what}") from exc
        latency = time.perf_counter() - start
        thinking = getattr(resp.message, "thinking", None) or ""
        text = resp.message.content or ""
        return Completion(
            text=text,
            finish_reason=getattr(resp, "done_reason", None),  # "length" when num_predict cut it, as in OpenAI
            usage=Usage(
                prompt_tokens=resp.prompt_eval_count or 0,
                completion_tokens=resp.eval_count or 0,
                thinking_tokens=rough_token_count(thinking) if thinking else 0,
            ),
            latency_s=latency,
            cost_usd=0.0,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client._client.aclose()


def show_facts(info: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    details = getattr(info, "details", None)
    if details is not None:
        if details.parameter_size:
            facts["parameters_label"] = details.parameter_size
        if details.quantization_level:
            facts["quantization"] = details.quantization_level
        if details.family:
            facts["architecture"] = details.family
    for key, value in (getattr(info, "modelinfo", None) or {}).items():
        if key.endswith(".context_length"):
            facts["context_length"] = value
        elif key == "general.parameter_count":
            facts["parameters"] = value
    licence = getattr(info, "license", None)
    if licence:
        first = licence.strip().splitlines()[0].strip()
        facts["license"] = first[:120]
    return facts


async def pull_model(client: Any, model: str, on_progress: Any = None) -> None:
    """Stream `ollama pull`; on_progress(status, completed, total) gets each update."""
    import httpx
    import ollama

    try:
        async for part in await client.pull(model, stream=True):
            if on_progress is not None:
                on_progress(part.status or "", part.completed, part.total)
    except httpx.TransportError as exc:  # the streaming path lets httpx's errors through
        raise ConnectionError(str(exc)) from exc
    except ollama.ResponseError as exc:
        raise ModelError(f"Ollama could not pull '{model}': {exc.error}", hint="Check the tag on ollama.com/library (e.g. qwen3:8b).") from exc


def create(spec: ModelSpec, options: dict[str, Any]) -> OllamaModel:
    return OllamaModel(spec, options)
