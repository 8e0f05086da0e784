"""The OpenAI / OpenAI-compatible backend against a loopback server: reasoning-model parameters, the
official API's request form and pricing, vLLM LoRA names and thinking control."""

from __future__ import annotations

import asyncio

import pytest

from basesel.models import GenerationParams, Message, create_model
from fakes import FakeOpenAI

MSGS = [Message("user", "Where is my order?")]


def generate_all(model, *params_list):
    async def go():
        try:
            return [await model.generate(MSGS, p) for p in params_list]
        finally:
            await model.aclose()

    return asyncio.run(go())


def chat_bodies(server):
    return [b for r, b in server.requests if r.endswith("/chat/completions")]


def test_reasoning_model_refusing_max_tokens_and_temperature_is_adapted_once():
    with FakeOpenAI() as server:
        model = create_model("openai/reasoner", base_url=f"{server.url}/v1")
        first, second = generate_all(model, GenerationParams(temperature=0.7, max_tokens=64), GenerationParams(temperature=0.7, max_tokens=64))
        bodies = chat_bodies(server)
    # 1st: max_tokens refused; 2nd: temperature refused; 3rd: accepted. The next call goes straight through.
    assert len(bodies) == 4
    assert "max_tokens" in bodies[0] and bodies[1]["max_completion_tokens"] == 64 and bodies[1]["temperature"] == 0.7
    assert "temperature" not in bodies[2] and "temperature" not in bodies[3] and bodies[3]["max_completion_tokens"] == 64
    assert model.identity.facts["params_not_supported"] == ["temperature"]  # recorded in the manifest
    assert first.text and first.usage.thinking_tokens == 8 and first.usage.completion_tokens == 12


def test_other_bad_requests_are_not_retried_and_say_what_the_server_said():
    from basesel.errors import ModelError

    with FakeOpenAI() as server:
        model = create_model("openai/missing", base_url=f"{server.url}/v1")
        with pytest.raises(ModelError) as err:
            generate_all(model, GenerationParams())
        assert len(chat_bodies(server)) == 1
    assert "model 'missing' not found" in err.value.message and "/v1/models" in err.value.hint


def test_official_api_sends_max_completion_tokens_and_prices_the_call(monkeypatch):
    """The official endpoint (no --base-url): the request form OpenAI's current models all accept, and a
    cost from the pinned pricing table. The SDK client is pointed at the loopback server."""
    import openai

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    with FakeOpenAI() as server:
        model = create_model("openai/gpt-4o-mini")
        assert model.identity.endpoint == "https://api.openai.com/v1"
        model._openai  # builds the client; swap it for one aimed at the fake
        model._client = openai.AsyncOpenAI(api_key="sk-test-key", base_url=f"{server.url}/v1", max_retries=0)
        (c,) = generate_all(model, GenerationParams(max_tokens=50))
        body = chat_bodies(server)[0]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert c.cost_usd == pytest.approx((30 * 0.15 + 12 * 0.60) / 1e6)


def test_self_hosted_servers_get_no_token_price_and_openai_base_url_is_recorded(monkeypatch):
    with FakeOpenAI() as server:
        (c,) = generate_all(create_model("openai/gpt-4o-mini", base_url=f"{server.url}/v1"), GenerationParams(max_tokens=20))
        assert chat_bodies(server)[0]["max_tokens"] == 20
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        via_env = create_model("openai/gpt-4o-mini")
        assert via_env.identity.endpoint == f"{server.url}/v1"  # the URL the SDK will really use
        generate_all(via_env, GenerationParams())
        assert len(chat_bodies(server)) == 2
    assert c.cost_usd is None  # a self-hosted server's cost is GPU time, not a token price


def test_vllm_lora_adapter_name_and_thinking_switch():
    with FakeOpenAI() as server:
        model = create_model("vllm/support-lora", base_url=f"{server.url}/v1")
        assert model.default_concurrency == 4  # a local server
        generate_all(model, GenerationParams(think=False), GenerationParams(think=None))
        off, default = chat_bodies(server)
    assert off["model"] == "support-lora" and off["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in default


def test_structured_json_object_option_sends_llama_cpp_form():
    with FakeOpenAI() as server:
        model = create_model("openai/local", base_url=f"{server.url}/v1", options={"structured": "json_object"})
        schema = {"type": "object", "properties": {"CS1": {"type": "string", "enum": ["yes", "no"]}}, "required": ["CS1"]}

        async def go():
            try:
                return await model.generate(MSGS, GenerationParams(temperature=0.0), json_schema=schema)
            finally:
                await model.aclose()

        c = asyncio.run(go())
        body = chat_bodies(server)[0]
    assert body["response_format"] == {"type": "json_object", "schema": schema} and c.text == '{"CS1": "yes"}'


def test_refused_parameters_are_recorded_in_the_run_manifest(tmp_path):
    import json
    import subprocess

    from conftest import BASESEL, cli_env

    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"input": f"Order {i} is late"}) + "\n" for i in range(2)))
    with FakeOpenAI() as server:
        url = f"{server.url}/v1"
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "openai/reasoner", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                       "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json", "--concurrency", "1"],
            cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120,
        )
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == 2 and summary["counts"]["errored"] == 0, proc.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["candidate"]["facts"]["params_not_supported"] == ["temperature"]
    assert "params_not_supported" not in manifest["judge"]["facts"]
    responses = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
    assert all(r["usage"]["thinking_tokens"] == 8 for r in responses)


def test_a_refused_key_stops_at_the_preflight_without_leaking_it(tmp_path):
    import json
    import subprocess

    from conftest import BASESEL, cli_env

    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(json.dumps({"input": "hi"}) + "\n")
    with FakeOpenAI(api_key="right-key") as server:
        url = f"{server.url}/v1"
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "vllm/served", "--base-url", url, "--judge", "vllm/served", "--judge-base-url", url,
                       "--rubric", "support", "--scenarios", str(scenarios)],
            cwd=tmp_path, env=cli_env(tmp_path, VLLM_API_KEY="wrong-key-123"), capture_output=True, text=True, timeout=60,
        )
        assert server.count("GET /v1/models") == 1 and not chat_bodies(server)
        assert server.auth == ["Bearer wrong-key-123"]  # VLLM_API_KEY is what a vLLM server gets
    assert proc.returncode == 1 and "refused the API key (401)" in proc.stderr and "VLLM_API_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr and "wrong-key-123" not in proc.stderr


def test_a_busy_server_passes_the_preflight(tmp_path):
    """The preflight's GET /models timing out on a connected server (busy generating) is not "unreachable"."""
    from basesel.run.cache import ResponseCache
    from basesel.run.executor import Executor

    with FakeOpenAI() as server:
        server.models_delay_s = 1.0
        model = create_model("openai/cand", base_url=f"{server.url}/v1", options={"timeout": 0.3})
        executor = Executor(ResponseCache(tmp_path, enabled=False))

        async def go():
            try:
                return await executor.call(model, MSGS, GenerationParams(max_tokens=8))
            finally:
                await model.aclose()

        result = asyncio.run(go())
        assert server.count("GET /v1/models") == 1 and len(chat_bodies(server)) == 1
    assert result.ok and result.completion.text


def test_think_option_overrides_the_run_wide_setting_for_this_model():
    with FakeOpenAI() as server:
        model = create_model("vllm/Qwen/Qwen3-8B", base_url=f"{server.url}/v1", options={"think": False})
        generate_all(model, GenerationParams(think=True), GenerationParams(think=None))
        forced, default = chat_bodies(server)
    assert forced["chat_template_kwargs"] == default["chat_template_kwargs"] == {"enable_thinking": False}
    assert model.identity.think is False and model.identity.cache_identity()["think"] is False


@pytest.mark.parametrize("options, fragment", [({"timeout": "abc"}, "timeout='abc'"), ({"timeout": -1}, "above zero"),
                                               ({"think": "perhaps"}, "think='perhaps'"), ({"base_url": "http://127.0.0.1:abc/v1"}, "-o base_url=")])
def test_bad_option_values_are_config_errors(options, fragment):
    from basesel.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        create_model("openai/local", base_url=None if "base_url" in options else "http://127.0.0.1:9/v1", options=options)
    assert fragment in err.value.message and err.value.hint


def test_bad_openai_base_url_env_is_a_config_error(monkeypatch):
    from basesel.errors import ConfigError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://u:secretpw@[::1/v1")
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL") as err:
        create_model("openai/gpt-4o-mini")
    assert "secretpw" not in str(err.value)


def test_reasoning_returned_apart_by_a_vllm_server_is_counted_as_thinking():
    with FakeOpenAI() as server:
        model = create_model("vllm/vllm-thinker", base_url=f"{server.url}/v1")
        (done,) = generate_all(model, GenerationParams(max_tokens=64))
    assert done.text.startswith("Thanks for reaching out") and "think" not in done.text  # the answer alone
    reasoning = "Let me think about the order status. " * 4
    assert done.usage.thinking_tokens == (len(reasoning) + 3) // 4  # estimated: the server did not count it


def test_a_vllm_server_never_gets_the_openai_key(monkeypatch):
    """OPENAI_API_KEY is OpenAI's: a remote vllm/ server without VLLM_API_KEY gets no key, not that one."""
    from basesel.models import create_model

    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-s3cret")
    remote = create_model("vllm/Qwen/Qwen3-8B", base_url="http://gpu-box.example:8000/v1")
    assert remote._api_key == "not-needed" and not remote._keyed
    monkeypatch.setenv("VLLM_API_KEY", "vllm-key")
    assert create_model("vllm/Qwen/Qwen3-8B", base_url="http://gpu-box.example:8000/v1")._api_key == "vllm-key"
