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


OLLAMA_PASSWORD = "s3cret-OLLAMA-PASSWORD-24680"


def with_userinfo(url: str) -> str:
    return url.replace("http://", f"http://user:{OLLAMA_PASSWORD}@")


def scan_for_password(tmp_path, *outputs):
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    for path in written:
        assert OLLAMA_PASSWORD not in path.read_bytes().decode("utf-8", "replace"), path
    for text in outputs:
        assert OLLAMA_PASSWORD not in text
    return written


def test_ollama_password_in_base_url_never_reaches_errors_files_or_console(tmp_path):
    """A failing Ollama call is recorded in responses.jsonl with its host: the host without user:password@."""
    from fakes import FakeOllama

    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(json.dumps({"input": "My card was charged twice"}) + "\n" + json.dumps({"input": "Where is my parcel"}) + "\n")
    with FakeOllama() as server:
        server.targeted["charged twice"] = ["500"] * 4  # every attempt for that scenario fails: an errored sample
        url = with_userinfo(server.url)
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "qwen3:8b", "--base-url", url, "--judge", "ollama/qwen3:8b", "--judge-base-url", url,
                       "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json"],
            cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120,
        )
    assert proc.returncode in (0, 3, 4, 5, 6, 7), proc.stderr
    errors = [json.loads(line).get("error") for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
    assert any(e and server.url in e for e in errors), errors  # the error names the host, redacted
    scan_for_password(tmp_path, proc.stdout, proc.stderr)


def test_ollama_password_in_base_url_is_not_printed_by_pull_or_models(tmp_path):
    from fakes import FakeOllama, FakeOpenAI

    with FakeOllama(pulled=()) as server:
        pulled = subprocess.run(BASESEL + ["pull", "qwen3:8b", "--base-url", with_userinfo(server.url)],
                                cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
        down_url = with_userinfo(server.url)
    assert pulled.returncode == 0, pulled.stderr
    down = subprocess.run(BASESEL + ["pull", "qwen3:8b", "--base-url", down_url], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert down.returncode == 1 and "cannot reach the Ollama server" in down.stderr
    with FakeOpenAI() as openai_server:
        listed = subprocess.run(BASESEL + ["models", "--json", "--base-url", with_userinfo(openai_server.url) + "/v1"],
                                cwd=tmp_path, env=cli_env(tmp_path, OLLAMA_HOST=down_url), capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = {r["provider"]: r for r in json.loads(listed.stdout)}
    assert rows["openai-compatible"]["status"].startswith("reachable"), rows  # probed with the credentials, shown without
    scan_for_password(tmp_path, pulled.stdout, pulled.stderr, down.stdout, down.stderr, listed.stdout, listed.stderr)
