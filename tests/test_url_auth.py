"""`user:password@` in an OpenAI-compatible or Anthropic base URL, checked by what a loopback server
receives: an API key from the environment is always sent as the provider's `Authorization: Bearer`
(the URL's user:password cannot share that one header and is not sent); without a key the URL's
user:password goes as `Authorization: Basic`. A `?key=` query rides along either way."""

from __future__ import annotations

import asyncio
import base64

import pytest

from basesel.errors import ModelError
from basesel.models import GenerationParams, Message, create_model
from fakes import FakeAnthropic, FakeOpenAI

USER, PASSWORD = "proxy-user", "p@ss:w/rd"  # percent-encoded in the URL below
URL_USERINFO = "proxy-user:p%40ss%3Aw%2Frd@"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PROVIDERS = {"openai": (FakeOpenAI, "OPENAI_API_KEY", "/v1"), "anthropic": (FakeAnthropic, "ANTHROPIC_API_KEY", "")}


def _call(provider: str, server, path: str, query: str = "") -> None:
    model = create_model(f"{provider}/m", base_url=server.url.replace("http://", f"http://{URL_USERINFO}") + path + query)
    asyncio.run(model.generate([Message("user", "hi")], GenerationParams(max_tokens=8)))


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_api_key_from_the_environment_is_sent_not_replaced_by_the_urls_basic_auth(provider, monkeypatch):
    fake, env, path = PROVIDERS[provider]
    monkeypatch.setenv(env, "sk-real-key-123")
    with fake(api_key="sk-real-key-123") as server:  # like the real API: any other Authorization is a 401
        _call(provider, server, path, "?key=q-123")
    (headers,) = server.headers
    assert headers["authorization"] == "Bearer sk-real-key-123"
    assert BASIC not in headers.values() and not any(PASSWORD in v or "p%40ss" in v for v in headers.values())
    assert "key=q-123" in server.requests[0][0]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_without_a_key_the_urls_user_and_password_are_sent_as_basic_auth(provider):
    fake, _, path = PROVIDERS[provider]
    with fake() as server:
        _call(provider, server, path)
    (headers,) = server.headers
    assert headers["authorization"] == BASIC  # decoded from the URL's percent-encoding, as httpx would
    assert "not-needed" not in " ".join(headers.values())  # the SDK's placeholder key is not sent beside it


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_key_says_the_urls_user_and_password_were_not_sent(provider, monkeypatch):
    fake, env, path = PROVIDERS[provider]
    monkeypatch.setenv(env, "sk-wrong-key")
    with fake(api_key="sk-other") as server, pytest.raises(ModelError) as err:
        _call(provider, server, path)
    assert server.headers[0]["authorization"] == "Bearer sk-wrong-key"
    assert "user:password@ was not sent" in err.value.hint and env in err.value.hint
    assert PASSWORD not in str(err.value) + err.value.hint
