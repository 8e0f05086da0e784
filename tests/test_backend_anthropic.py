"""The Anthropic backend against a loopback server speaking the Messages API."""

from __future__ import annotations

import json
import subprocess

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
    proc = subprocess.run(BASESEL + ["baseline", "--model", "anthropic/claude-x", "--rubric", "support", "--scenarios", str(scenarios)],
                          cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "ANTHROPIC_API_KEY" in proc.stderr and "Traceback" not in proc.stderr
