"""Credentials never appear in files basesel writes: run directory, cache, decision document."""

from __future__ import annotations

import json
import subprocess

from conftest import BASESEL, cli_env
from fakes import FakeAnthropic, FakeOpenAI

OPENAI_KEY = "sk-test-OPENAI-SECRET-0123456789"
ANTHROPIC_KEY = "sk-ant-test-ANTHROPIC-SECRET-9876543210"


def test_keys_from_dotenv_are_used_and_never_written(tmp_path):
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={OPENAI_KEY}\nANTHROPIC_API_KEY={ANTHROPIC_KEY}\n")
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(json.dumps({"input": "My card was charged twice"}) + "\n")
    with FakeOpenAI() as openai_server, FakeAnthropic() as anthropic_server:
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "openai/cand", "--base-url", f"{openai_server.url}/v1", "--judge", "anthropic/claude-judge",
                       "--judge-base-url", anthropic_server.url, "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json"],
            cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode in (0, 5), proc.stderr
        # the keys were really used: the servers saw them
        assert anthropic_server.count("POST /v1/messages") == 1 and set(anthropic_server.auth) == {f"Bearer {ANTHROPIC_KEY}"}
        assert f"Bearer {OPENAI_KEY}" in openai_server.auth
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".env"]
    assert any(p.name == "manifest.json" for p in written) and any("cache" in p.parts for p in written)
    for path in written:
        text = path.read_bytes().decode("utf-8", "replace")
        assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text, path
    assert OPENAI_KEY not in proc.stdout + proc.stderr and ANTHROPIC_KEY not in proc.stdout + proc.stderr
