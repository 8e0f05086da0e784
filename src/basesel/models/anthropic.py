"""Anthropic backend (official SDK). Judge verdicts come back through a forced tool call whose input
schema is the verdict schema, so they are structured by the API rather than parsed from prose."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ..errors import ConfigError, ModelError, RequestRejected, TransientModelError, require, require_installed
from .base import (
    Completion, GenerationParams, Message, ModelIdentity, Usage,
    bool_option, is_connect_timeout, number_option, retry_after_seconds, rough_token_count, with_model_think,
)
from .pricing import cost_usd
from .spec import ModelSpec, check_base_url, is_local_url, redact_url, split_query, split_userinfo, url_credentials_note

VERDICT_TOOL = "record_verdicts"


class AnthropicModel:
    default_concurrency = 8

    def __init__(self, spec: ModelSpec, options: dict[str, Any]):
        require_installed("anthropic", "anthropic", "The Anthropic backend")
        self.model_name = spec.name
        self.base_url = spec.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None  # the SDK would use it anyway: record it
        if self.base_url and not spec.base_url:  # --base-url was checked when the spec was parsed
            check_base_url(self.base_url, " in ANTHROPIC_BASE_URL")
        key = os.environ.get("ANTHROPIC_API_KEY")
        self._keyed = bool(key or os.environ.get("ANTHROPIC_AUTH_TOKEN"))  # the SDK sends either as Authorization: Bearer
        if not key:
            if self.base_url and is_local_url(self.base_url):
                key = "not-needed"
            else:
                raise ConfigError("ANTHROPIC_API_KEY is not set", hint="Export ANTHROPIC_API_KEY (or put it in a .env file in this directory).")
        self._api_key = key
        self._timeout = number_option(options, "timeout", 120.0, model=str(spec))
        self._client: Any = None
        self._sdk: Any = None
        self.identity = ModelIdentity(provider="anthropic", name=spec.name, endpoint=redact_url(self.base_url) or "https://api.anthropic.com",
                                      think=bool_option(options, "think", model=str(spec)))  # -o think=false: this model only

    @property
    def sdk(self) -> Any:
        if self._sdk is None:
            self._sdk = require("anthropic", "anthropic", "The Anthropic backend")
            # One retry layer for every backend: the executor's (backoff with jitter, honours Retry-After).
            base_url, basic = split_userinfo(self.base_url)
            base_url, query = split_query(base_url)
            # One Authorization header: the API key's when a key is set, else the URL's user:password.
            headers = {"Authorization": basic} if basic and not self._keyed else None
            self._client = self._sdk.AsyncAnthropic(api_key=self._api_key, base_url=base_url, default_query=query, default_headers=headers, max_retries=0, timeout=self._timeout)
        return self._sdk

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema: dict | None = None) -> Completion:
        anthropic = self.sdk
        params = with_model_think(params, self.identity.think)
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        # No temperature/top_p/seed: the Messages API of the current SDK (2.x) no longer takes sampling
        # parameters, so Anthropic runs use the model's own sampling (recorded in the docs).
        kwargs: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": params.max_tokens,
            "messages": [m.to_dict() for m in messages if m.role != "system"],
        }
        if system:
            kwargs["system"] = system
        thinking = _thinking_config(params, json_schema)
        if thinking is not None:
            kwargs["thinking"] = thinking
        if json_schema is not None:
            kwargs["tools"] = [{"name": VERDICT_TOOL, "description": "Record the verdict for every criterion.", "input_schema": json_schema}]
            kwargs["tool_choice"] = {"type": "tool", "name": VERDICT_TOOL}
        start = time.perf_counter()
        try:
            resp = await self._client.messages.create(**kwargs)
        except anthropic.RateLimitError as exc:
            raise TransientModelError(f"rate limited (429) by {self.identity.endpoint}", retry_after=retry_after_seconds(exc.response)) from exc
        except anthropic.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code in (408, 409, 529):
                raise TransientModelError(f"server error {exc.status_code} from {self.identity.endpoint}", retry_after=retry_after_seconds(exc.response)) from exc
            if exc.status_code in (401, 403):
                raise ModelError(f"{self.identity.endpoint} refused the API key ({exc.status_code})", hint="Check ANTHROPIC_API_KEY (in the environment or ./.env)." + url_credentials_note(self.base_url, self._keyed, "ANTHROPIC_API_KEY")) from exc
            if exc.status_code == 404:
                raise ModelError(f"model '{self.model_name}' not found at {self.identity.endpoint}", hint="Check the model id (e.g. claude-3-5-haiku-latest).") from exc
            raise RequestRejected(f"{self.identity.endpoint} rejected the request ({exc.status_code}): {exc.message[:300]}") from exc
        except anthropic.APITimeoutError as exc:
            raise TransientModelError(f"timed out after {self._timeout:.0f}s waiting for {self.identity.endpoint}") from exc
        except anthropic.APIConnectionError as exc:
            raise TransientModelError(f"cannot connect to {self.identity.endpoint}") from exc
        except json.JSONDecodeError as exc:  # a 200 whose body is not JSON (a proxy's error page, a cut-off buffer)
            raise TransientModelError(f"{self.identity.endpoint} sent a reply that is not JSON") from exc
        latency = time.perf_counter() - start
        if not resp.content:  # not even an empty text block: the server's fault, not an empty answer of the model's
            raise TransientModelError(f"{self.identity.endpoint} returned a message with no content blocks")
        text, thought = "", ""
        for block in resp.content:
            if block.type == "tool_use" and json_schema is not None:
                text = json.dumps(block.input)
                break
            if block.type == "text":
                text += block.text
            elif block.type == "thinking":
                thought += block.thinking or ""
        output_tokens = resp.usage.output_tokens or 0
        # Thinking is billed and reported inside output_tokens; the API gives no split, so estimate it.
        usage = Usage(
            prompt_tokens=resp.usage.input_tokens or 0,
            completion_tokens=output_tokens,
            thinking_tokens=min(output_tokens, rough_token_count(thought)) if thought else 0,
        )
        finish = {"end_turn": "stop", "max_tokens": "length", "tool_use": "stop", "stop_sequence": "stop"}.get(resp.stop_reason or "", resp.stop_reason)
        return Completion(text=text, finish_reason=finish, usage=usage, latency_s=latency, cost_usd=cost_usd(self.model_name, usage))

    async def check(self) -> None:
        """Before the first real call: the API is reachable and takes the key (GET /v1/models)."""
        anthropic = self.sdk
        try:
            await self._client.models.list(limit=1, timeout=min(self._timeout, 10))
        except anthropic.APITimeoutError as exc:
            if not is_connect_timeout(exc):
                return  # connected but slow to answer: the real calls have their own timeout and retries
            raise ModelError(f"connecting to the Anthropic API at {self.identity.endpoint} timed out", hint="Check your network or proxy (HTTPS_PROXY), or --base-url.") from exc
        except anthropic.APIConnectionError as exc:
            raise ModelError(
                f"cannot reach the Anthropic API at {self.identity.endpoint}",
                hint="Check your network or proxy (HTTPS_PROXY), or --base-url / --judge-base-url if you set one.",
            ) from exc
        except anthropic.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise ModelError(f"{self.identity.endpoint} refused the API key ({exc.status_code})", hint="Check ANTHROPIC_API_KEY (in the environment or ./.env).") from exc
            # anything else (a proxy without /v1/models, a 5xx) is left to the real calls and their retries
        except json.JSONDecodeError:
            return  # it answered, if not in JSON: left to the real calls and their retries

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def _thinking_config(params: GenerationParams, json_schema: dict | None) -> dict[str, Any] | None:
    """--no-think: thinking explicitly off. --think: extended thinking with a budget below max_tokens
    (the API wants >= 1024 and < max_tokens, and no thinking with a forced tool, i.e. never for the judge)."""
    if params.think is False:
        return {"type": "disabled"}
    if params.think and json_schema is None and params.max_tokens > 1024:
        return {"type": "enabled", "budget_tokens": max(1024, min(params.max_tokens // 2, params.max_tokens - 1))}
    return None


def create(spec: ModelSpec, options: dict[str, Any]) -> AnthropicModel:
    return AnthropicModel(spec, options)
