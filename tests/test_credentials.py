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
    import base64

    basic = "Basic " + base64.b64encode(f"user:{OLLAMA_PASSWORD}".encode()).decode()
    assert set(server.auth) == {basic}  # the credentials were used (the ollama SDK alone drops them), then never written
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
    assert all(a and a.startswith("Basic ") for a in server.auth), server.auth
    down = subprocess.run(BASESEL + ["pull", "qwen3:8b", "--base-url", down_url], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert down.returncode == 1 and "cannot reach the Ollama server" in down.stderr
    with FakeOpenAI() as openai_server:
        listed = subprocess.run(BASESEL + ["models", "--json", "--base-url", with_userinfo(openai_server.url) + "/v1"],
                                cwd=tmp_path, env=cli_env(tmp_path, OLLAMA_HOST=down_url), capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = {r["provider"]: r for r in json.loads(listed.stdout)}
    assert rows["openai-compatible"]["status"].startswith("reachable"), rows  # probed with the credentials, shown without
    scan_for_password(tmp_path, pulled.stdout, pulled.stderr, down.stdout, down.stderr, listed.stdout, listed.stderr)


URL_PASSWORD = "URLPASS-s3cret-1357"
QUERY_KEY = "QUERYKEY-s3cret-8642"
ENV_KEYS = {
    "OPENAI_API_KEY": "sk-env-OPENAI-s3cret-1111",
    "ANTHROPIC_API_KEY": "sk-ant-env-s3cret-2222",
    "VLLM_API_KEY": "vllm-env-s3cret-3333",
    "HF_TOKEN": "hf_env_s3cret_4444",
}


def secured(url: str, who: str, path: str = "") -> str:
    """A base URL carrying both kinds of URL credential: user:password@ and ?key=."""
    return url.replace("http://", f"http://{who}:{URL_PASSWORD}@") + f"{path}?key={QUERY_KEY}"


def test_keys_in_the_environment_and_in_base_urls_never_reach_a_file_or_the_console(tmp_path):
    """A baseline with every kind of credential at once, an errored sample and an unreadable verdict among
    its results (error messages name the endpoint), then `--retry-errors`: every file under the working
    directory (run directory, cache, decision document) and all console output are scanned."""
    import base64

    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"Order {i} never arrived"}) + "\n" for i in range(3)))
    with FakeOpenAI() as openai_server, FakeAnthropic() as anthropic_server:
        openai_server.targeted = {"Order 1 never": ["400-context"]}  # q1's answer: refused, an errored sample
        anthropic_server.targeted = {"settings page: Order 2 never": ["badjson"]}  # q2's first verdict: unreadable
        args = ["--model", "openai/cand", "--base-url", secured(openai_server.url, "cand", "/v1"),
                "--judge", "anthropic/claude-judge", "--judge-base-url", secured(anthropic_server.url, "judge"),
                "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json"]
        env = cli_env(tmp_path, **ENV_KEYS)
        first = subprocess.run(BASESEL + ["baseline", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        again = subprocess.run(BASESEL + ["baseline", "--retry-errors", "run", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        report = subprocess.run(BASESEL + ["report", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        # the credentials were really used: the query key and the user:password reached both servers
        for server in (openai_server, anthropic_server):
            chat = [r for r, _ in server.requests if r.startswith("POST")]
            assert chat and all(f"key={QUERY_KEY}" in r for r in chat[:3]), chat
        assert any(a and a.startswith("Basic ") for a in openai_server.auth + anthropic_server.auth)
    assert first.returncode not in (1, 2) and again.returncode not in (1, 2), first.stderr + again.stderr  # decisions, not errors
    assert report.returncode not in (1, 2), report.stderr
    summary = json.loads(first.stdout)
    assert summary["counts"]["errored"] == 1 and "127.0.0.1" in json.dumps(summary["warnings"])  # an error naming the endpoint
    secrets = [URL_PASSWORD, QUERY_KEY, *ENV_KEYS.values()]
    secrets += [base64.b64encode(f"{who}:{URL_PASSWORD}".encode()).decode() for who in ("cand", "judge")]  # the Basic header
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    kinds = {p.relative_to(tmp_path).parts[0] for p in written}
    assert {"run", "cache", "docs"} <= kinds, kinds
    assert (tmp_path / "docs" / "base-model-evaluation.md").is_file() and (tmp_path / "run" / "manifest.json").is_file()
    for path in written:
        text = path.read_bytes().decode("utf-8", "replace")
        for secret in secrets:
            assert secret not in text, (secret, path)
    for proc in (first, again, report):
        for secret in secrets:
            assert secret not in proc.stdout + proc.stderr, secret
