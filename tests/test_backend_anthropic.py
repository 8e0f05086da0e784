"""The Anthropic backend against a loopback server speaking the Messages API."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BASESEL, cli_env
from fakes import FakeAnthropic


def test_anthropic_candidate_and_forced_tool_judge(tmp_path):
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"input": f"I was billed twice, case {i}"}) + "\n" for i in range(3)))
    with FakeAnthropic() as server:
        env = cli_env(tmp_path, ANTHROPIC_API_KEY="sk-ant-test-not-a-real-key")
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "anthropic/claude-3-5-haiku-latest", "--base-url", server.url, "--judge", "anthropic/claude-3-5-haiku-latest",
                       "--judge-base-url", server.url, "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json", "--system-prompt", "Be brief."],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        calls = [b for r, b in server.requests if r.startswith("POST /v1/messages")]
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == 3 and summary["counts"]["unscored"] == 0, proc.stderr
    judge_calls = [c for c in calls if c.get("tools")]
    assert len(judge_calls) == 3 and judge_calls[0]["tool_choice"] == {"type": "tool", "name": "record_verdicts"}
    assert set(judge_calls[0]["tools"][0]["input_schema"]["properties"]) >= {"CS1", "CS7"}
    candidate_calls = [c for c in calls if not c.get("tools")]
    assert candidate_calls[0]["system"] == "Be brief." and all(m["role"] != "system" for m in candidate_calls[0]["messages"])
    # token usage and the pinned price give a cost per call (claude-3-5-haiku*: $0.80 / $4.00 per 1M)
    responses = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
    assert responses[0]["usage"]["prompt_tokens"] == 50 and responses[0]["cost_usd"] == (50 * 0.80 + 20 * 4.00) / 1e6


def test_missing_anthropic_key_names_the_variable(tmp_path):
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(json.dumps({"input": "hi"}) + "\n")
    proc = subprocess.run(BASESEL + ["baseline", "--model", "anthropic/claude-x", "--judge", "anthropic/claude-x", "--rubric", "support", "--scenarios", str(scenarios)],
                          cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "ANTHROPIC_API_KEY" in proc.stderr and "Traceback" not in proc.stderr


def test_refused_key_stops_before_any_message_is_sent(tmp_path):
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(json.dumps({"input": "hi"}) + "\n")
    with FakeAnthropic(api_key="sk-ant-the-right-one") as server:
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "anthropic/claude-x", "--base-url", server.url, "--judge", "anthropic/claude-x", "--judge-base-url", server.url,
                       "--rubric", "support", "--scenarios", str(scenarios), "--out", "run"],
            cwd=tmp_path, env=cli_env(tmp_path, ANTHROPIC_API_KEY="sk-ant-a-wrong-one"), capture_output=True, text=True, timeout=60,
        )
        assert server.count("GET /v1/models") == 1 and server.count("POST /v1/messages") == 0  # the preflight caught it
    assert proc.returncode == 1 and "refused the API key (401)" in proc.stderr and "ANTHROPIC_API_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr and "sk-ant-a-wrong-one" not in proc.stderr


def test_thinking_control_and_thinking_tokens(monkeypatch):
    import asyncio

    from basesel.models import GenerationParams, Message, create_model

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with FakeAnthropic(thinking=True) as server:
        model = create_model("anthropic/claude-sonnet-4-5", base_url=server.url)

        async def go():
            try:
                msgs = [Message("user", "I was billed twice")]
                on = await model.generate(msgs, GenerationParams(max_tokens=4096, think=True))
                off = await model.generate(msgs, GenerationParams(max_tokens=4096, think=False))
                judged = await model.generate(msgs, GenerationParams(max_tokens=4096, think=True), json_schema={"type": "object", "properties": {"CS1": {"type": "string", "enum": ["yes", "no"]}}})
                return on, off, judged
            finally:
                await model.aclose()

        on, off, judged = asyncio.run(go())
        bodies = [b for r, b in server.requests if r.startswith("POST /v1/messages")]
    assert bodies[0]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert bodies[1]["thinking"] == {"type": "disabled"}
    assert "thinking" not in bodies[2] and bodies[2]["tool_choice"]["type"] == "tool"  # no thinking with a forced tool
    # thinking is inside output_tokens (80): counted apart, never in the answer text
    assert on.usage.completion_tokens == 80 and 0 < on.usage.thinking_tokens < 80 and "invoice first" not in on.text
    assert off.usage.thinking_tokens == 0 and json.loads(judged.text) == {"CS1": "yes"}
    # cost: output tokens billed once (claude-sonnet-4*: $3 / $15 per 1M)
    assert on.cost_usd == (50 * 3.00 + 80 * 15.00) / 1e6


def test_missing_anthropic_sdk_names_the_extra(monkeypatch):
    import sys

    import pytest

    from basesel.errors import MissingDependencyError
    from basesel.models import create_model

    monkeypatch.setitem(sys.modules, "anthropic", None)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with pytest.raises(MissingDependencyError) as err:
        create_model("anthropic/claude-x")
    assert "pip install 'basesel[anthropic]'" in err.value.hint


def test_think_option_overrides_the_run_wide_setting_for_this_model(monkeypatch):
    import asyncio

    from basesel.models import GenerationParams, Message, create_model

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with FakeAnthropic(thinking=True) as server:
        off_model = create_model("anthropic/claude-sonnet-4-5", base_url=server.url, options={"think": False})
        on_model = create_model("anthropic/claude-sonnet-4-5", base_url=server.url, options={"think": "true"})

        async def go():
            try:
                msgs = [Message("user", "I was billed twice")]
                await off_model.generate(msgs, GenerationParams(max_tokens=4096, think=True))  # --think, -o think=false
                await on_model.generate(msgs, GenerationParams(max_tokens=4096, think=None))
            finally:
                await off_model.aclose()
                await on_model.aclose()

        asyncio.run(go())
        bodies = [b for r, b in server.requests if r.startswith("POST /v1/messages")]
    assert bodies[0]["thinking"] == {"type": "disabled"}
    assert bodies[1]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert off_model.identity.think is False and on_model.identity.think is True


@pytest.mark.parametrize("options, fragment", [({"timeout": "abc"}, "timeout='abc'"), ({"think": "sometimes"}, "think='sometimes'")])
def test_bad_option_values_are_config_errors(monkeypatch, options, fragment):
    from basesel.errors import ConfigError
    from basesel.models import create_model

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with pytest.raises(ConfigError) as err:
        create_model("anthropic/claude-x", options=options)
    assert fragment in err.value.message and "anthropic/claude-x" in err.value.message and err.value.hint
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://[::1")
    with pytest.raises(ConfigError, match="ANTHROPIC_BASE_URL"):
        create_model("anthropic/claude-x")
