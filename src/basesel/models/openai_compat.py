"""OpenAI and every OpenAI-compatible server (vLLM, llama.cpp server, LM Studio ...) via the official SDK."""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlparse

from ..errors import ConfigError, ModelError, RequestRejected, TransientModelError, require, require_installed
from .base import Completion, GenerationParams, Message, ModelIdentity, Usage, bool_option, is_connect_timeout, number_option, retry_after_seconds, rough_token_count, with_model_think
from .pricing import cost_usd
from .spec import ModelSpec, check_base_url, is_local_url, redact_url, split_query, split_userinfo, url_credentials_note


class OpenAICompatModel:
    def __init__(self, spec: ModelSpec, options: dict[str, Any]):
        require_installed("openai", "openai", f"The {spec.provider} backend")
        base_url = spec.base_url  # --base-url: checked when the spec was parsed
        if base_url is None and options.get("base_url"):
            base_url = check_base_url(str(options["base_url"]), " in -o base_url=")
        if base_url is None and spec.provider == "openai" and os.environ.get("OPENAI_BASE_URL"):
            base_url = check_base_url(os.environ["OPENAI_BASE_URL"], " in OPENAI_BASE_URL")  # the SDK would use it anyway: record it
        official = spec.provider == "openai" and (base_url is None or urlparse(base_url).hostname == "api.openai.com")
        api_key = os.environ.get("OPENAI_API_KEY") if spec.provider == "openai" else os.environ.get("VLLM_API_KEY")
        if not api_key:
            if base_url and is_local_url(base_url):
                api_key = "not-needed"  # local servers ignore it, the SDK insists on one
            elif spec.provider == "vllm" or base_url:
                # a server without a key; a vllm/ server never gets OPENAI_API_KEY (it is not OpenAI's: VLLM_API_KEY is its key)
                api_key = "not-needed"
            else:
                raise ConfigError(
                    "OPENAI_API_KEY is not set",
                    hint="Export OPENAI_API_KEY (or put it in a .env file), or point --base-url at a local OpenAI-compatible server.",
                )
        self.model_name = spec.name
        self.base_url = base_url
        self._timeout = number_option(options, "timeout", 120.0, model=str(spec))
        self._api_key = api_key
        self._keyed = api_key != "not-needed"  # a real key from the environment, not the placeholder
        self._sdk: Any = None  # imported on first use: a fully cached re-run never pays for it
        self._structured = options.get("structured", "json_schema")
        extra_body = options.get("extra_body", {})
        if not isinstance(extra_body, dict):  # -o gives a string; a mapping comes only from Python callers
            raise ConfigError(f"option extra_body={extra_body!r} for {spec} is not a mapping",
                              hint="extra_body takes a mapping of extra request fields (create_model(..., options={'extra_body': {...}})); drop -o extra_body.")
        self._extra_body: dict[str, Any] = dict(extra_body)
        # OpenAI's reasoning models (o-series, gpt-5) refuse `max_tokens` and any non-default temperature;
        # every chat model there takes `max_completion_tokens`. Servers (vLLM, llama.cpp) keep `max_tokens`.
        self._token_param = "max_completion_tokens" if official else "max_tokens"
        self._priced = official
        self._unsupported: set[str] = set()  # sampling params the model refused; sent no more (see facts)
        is_local = base_url is not None and is_local_url(base_url)
        self.default_concurrency = 4 if is_local else 8
        self.identity = ModelIdentity(
            provider=spec.provider,
            name=spec.name,
            endpoint=redact_url(base_url) or "https://api.openai.com/v1",
            think=bool_option(options, "think", model=str(spec)),  # -o think=false: this model only
        )

    @property
    def _openai(self) -> Any:
        if self._sdk is None:
            self._sdk = require("openai", "openai", f"The {self.identity.provider} backend")
            # Retries happen once, in the executor (backoff with jitter, honouring Retry-After): the SDK's are off.
            base_url, basic = split_userinfo(self.base_url)
            base_url, query = split_query(base_url)
            # One Authorization header: the API key's Bearer when a key is set, else the URL's user:password.
            headers = {"Authorization": basic} if basic and not self._keyed else None
            self._client = self._sdk.AsyncOpenAI(api_key=self._api_key, base_url=base_url, default_query=query, default_headers=headers, max_retries=0, timeout=self._timeout)
        return self._sdk

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema: dict | None = None) -> Completion:
        openai = self._openai
        params = with_model_think(params, self.identity.think)
        sampling = params.sampling_kwargs()
        sampling[self._token_param] = sampling.pop("max_tokens")
        for name in self._unsupported:
            sampling.pop(name, None)
        body: dict[str, Any] = {"model": self.model_name, "messages": [m.to_dict() for m in messages], **sampling}
        extra_body = dict(self._extra_body)
        if params.think is not None:
            extra_body.setdefault("chat_template_kwargs", {})["enable_thinking"] = params.think
        if json_schema is not None:
            if self._structured == "json_object":
                body["response_format"] = {"type": "json_object", "schema": json_schema}
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "verdicts", "schema": json_schema, "strict": True},
                }
        if extra_body:
            body.update(extra_body)  # what the SDK's extra_body= does: fields merged into the request body
        start = time.perf_counter()
        try:
            # The SDK's documented request method (client.post, "undocumented endpoints" in its README):
            # the same request, headers, timeout and error classes as chat.completions.create, without
            # re-walking the request through its TypedDict transform and building pydantic objects from the
            # reply, which were a quarter of the client's CPU per call at 10,000 calls (docs/benchmarks.md).
            resp = await self._client.post("/chat/completions", body=body, cast_to=object)
        except openai.RateLimitError as exc:
            raise TransientModelError(f"rate limited (429) by {self.identity.endpoint}", retry_after=retry_after_seconds(exc.response)) from exc
        except openai.APIStatusError as exc:
            if json_schema is not None and self._structured == "json_schema" and "json_object" in str(exc.message):
                # llama.cpp's server only knows {"type": "json_object", "schema": ...}: switch form and re-ask.
                self._structured = "json_object"
                return await self.generate(messages, params, json_schema)
            if exc.status_code == 400 and self._adapt_to_refused_param(exc):
                return await self.generate(messages, params, json_schema)
            if exc.status_code >= 500 or exc.status_code in (408, 409):
                raise TransientModelError(f"server error {exc.status_code} from {self.identity.endpoint}", retry_after=retry_after_seconds(exc.response)) from exc
            if exc.status_code in (401, 403):
                raise ModelError(
                    f"{self.identity.endpoint} refused the API key ({exc.status_code})",
                    hint=("Check VLLM_API_KEY (the key the vLLM server was started with, --api-key)." if self.identity.provider == "vllm" else "Check OPENAI_API_KEY (or the key your server expects).") + url_credentials_note(self.base_url, self._keyed, "OPENAI_API_KEY" if self.identity.provider == "openai" else "VLLM_API_KEY"),
                ) from exc
            if exc.status_code == 404:
                raise ModelError(f"model '{self.model_name}' not found at {self.identity.endpoint}", hint="Check the model name the server serves (GET /v1/models).") from exc
            raise RequestRejected(f"{self.identity.endpoint} rejected the request ({exc.status_code}): {_short(exc.message)}") from exc
        except openai.APITimeoutError as exc:
            raise TransientModelError(f"timed out after {self._timeout:.0f}s waiting for {self.identity.endpoint}") from exc
        except openai.APIConnectionError as exc:
            raise TransientModelError(f"cannot connect to {self.identity.endpoint}") from exc
        except json.JSONDecodeError as exc:  # a 200 whose body is not JSON (a proxy's error page, a cut-off buffer)
            raise TransientModelError(f"{self.identity.endpoint} sent a reply that is not JSON") from exc
        latency = time.perf_counter() - start
        if not isinstance(resp, dict):  # a 200 that is not a JSON object (text from a proxy, a bare list ...)
            raise TransientModelError(f"{self.identity.endpoint} sent a reply that is not a JSON object")
        choices = resp.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise TransientModelError(f"{self.identity.endpoint} returned no choices")
        choice = choices[0]
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        raw_usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
        details = raw_usage.get("completion_tokens_details") if isinstance(raw_usage.get("completion_tokens_details"), dict) else {}
        usage = Usage(
            prompt_tokens=_count(raw_usage.get("prompt_tokens")),
            completion_tokens=_count(raw_usage.get("completion_tokens")),
            thinking_tokens=_count(details.get("reasoning_tokens")),
        )
        # vLLM's reasoning parser (and some other servers) return the thinking apart from the answer, as
        # `reasoning_content` or `reasoning`, without counting it: estimate it so it is reported separately.
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning and not usage.thinking_tokens:
            usage.thinking_tokens = rough_token_count(reasoning)
        # API prices apply to OpenAI itself; a self-hosted server's cost is GPU time, not tokens.
        cost = cost_usd(self.model_name, usage) if self._priced else None
        content = message.get("content")
        finish = choice.get("finish_reason")
        return Completion(text=content if isinstance(content, str) else "", finish_reason=finish if isinstance(finish, str) else None,
                          usage=usage, latency_s=latency, cost_usd=cost)

    def _adapt_to_refused_param(self, exc: Any) -> bool:
        """A reasoning model refused a sampling parameter (`unsupported_parameter` / `unsupported_value`):
        stop sending it (or send `max_completion_tokens` for `max_tokens`) and record that in the identity's
        facts, so the manifest says the model ran with its own default. Each parameter adapts once."""
        param, code = getattr(exc, "param", None), getattr(exc, "code", None)
        if code not in ("unsupported_parameter", "unsupported_value"):
            return False
        if param == "max_tokens" and self._token_param == "max_tokens":
            self._token_param = "max_completion_tokens"
            return True
        if param in ("temperature", "top_p", "seed") and param not in self._unsupported:
            self._unsupported.add(param)
            self.identity.facts["params_not_supported"] = sorted(self._unsupported)
            return True
        return False

    async def check(self) -> None:
        """Fail early, with the URL and how to start a server, when nothing is listening."""
        openai = self._openai
        try:
            await self._client.models.list(timeout=min(self._timeout, 10))
        except openai.APITimeoutError as exc:
            if not is_connect_timeout(exc):
                return  # connected, but busy (llama.cpp's server answers /models only between generations)
            raise ModelError(
                f"connecting to the OpenAI-compatible server at {self.identity.endpoint} timed out",
                hint="Check --base-url (host and port) and that the server is running and reachable from here.",
            ) from exc
        except openai.APIConnectionError as exc:
            raise ModelError(
                f"cannot reach the OpenAI-compatible server at {self.identity.endpoint}",
                hint=(
                    "Start it first, e.g. `vllm serve <model>` (port 8000) or "
                    "`python -m llama_cpp.server --model <file.gguf>` (port 8000), or fix --base-url."
                ),
            ) from exc
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise ModelError(
                    f"{self.identity.endpoint} refused the API key ({exc.status_code})",
                    hint="Check OPENAI_API_KEY (in the environment or ./.env), or the key your server expects (VLLM_API_KEY for vLLM).",
                ) from exc
            # other answers (a server without /models ...): it is up, which is what this checks
        except json.JSONDecodeError:
            return  # it answered, if not in JSON: up; the real calls have their own retries

    async def aclose(self) -> None:
        if self._sdk is not None:
            await self._client.close()


def _count(value: Any) -> int:
    """A token count from the reply's usage: a non-negative whole number, else 0 (absent or malformed)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def create(spec: ModelSpec, options: dict[str, Any]) -> OpenAICompatModel:
    return OpenAICompatModel(spec, options)
