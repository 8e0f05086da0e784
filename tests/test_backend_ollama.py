"""The Ollama backend against a loopback server speaking Ollama's HTTP API."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BASESEL, cli_env
from fakes import FakeOllama


def run_cli(args, tmp_path):
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)


@pytest.fixture
def scenarios(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "input": f"My invoice {i} shows a double charge"}) + "\n" for i in range(4)))
    return path


def baseline(server, scenarios, *extra):
    return ["baseline", "--model", "qwen3:8b", "--base-url", server.url, "--judge", "ollama/qwen3:8b", "--judge-base-url", server.url,
            "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json", *extra]


def test_bare_tag_runs_on_ollama_and_records_show_facts(tmp_path, scenarios):
    with FakeOllama() as server:
        proc = run_cli(baseline(server, scenarios), tmp_path)
        assert server.count("POST /api/chat") == 8  # 4 candidate + 4 judge calls
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == 4, proc.stderr
    cand = summary["candidate"]
    assert cand["provider"] == "ollama" and cand["digest"].startswith("sha256-")
    assert cand["facts"] == {**cand["facts"], "parameters_label": "8.2B", "quantization": "Q4_K_M", "context_length": 40960, "license": "Apache License"}
    doc = (tmp_path / "docs" / "base-model-evaluation.md").read_text()
    assert "8.2B" in doc and "Q4_K_M" in doc and "40960" in doc


def test_judge_gets_the_schema_as_format(tmp_path, scenarios):
    with FakeOllama() as server:
        run_cli(baseline(server, scenarios), tmp_path)
        judge_calls = [b for r, b in server.requests if r == "POST /api/chat" and isinstance(b.get("format"), dict)]
    assert len(judge_calls) == 4
    assert set(judge_calls[0]["format"]["properties"]) == {"CS1", "CS2", "CS3", "CS4", "CS5", "CS7"}
    assert judge_calls[0]["options"]["temperature"] == 0.0


def test_model_not_pulled_offers_pull(tmp_path, scenarios):
    with FakeOllama(pulled=()) as server:
        proc = run_cli(baseline(server, scenarios), tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "not pulled" in proc.stderr and "basesel pull qwen3:8b" in proc.stderr and "--pull" in proc.stderr
    assert server.count("POST /api/chat") == 0 and not (tmp_path / "run" / "responses.jsonl").exists()


def test_pull_flag_pulls_then_runs(tmp_path, scenarios):
    with FakeOllama(pulled=()) as server:
        proc = run_cli(baseline(server, scenarios, "--pull"), tmp_path)
        assert server.count("POST /api/pull") == 1  # candidate and judge are the same model: pulled once
        assert server.pulled == {"qwen3:8b"}
    assert json.loads(proc.stdout)["counts"]["scored"] == 4
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["model_options"] == {"pull": True}


def test_pull_option_for_one_model_and_unknown_tag_is_a_clear_error(tmp_path, scenarios):
    with FakeOllama(pulled=("qwen3:8b",)) as server:
        server.unknown = {"nosuch:1b"}
        proc = run_cli(["baseline", "--model", "nosuch:1b", "--base-url", server.url, "--judge", "qwen3:8b", "--judge-base-url", server.url,
                        "--rubric", "support", "--scenarios", str(scenarios), "-o", "pull=true"], tmp_path)
        assert server.count("POST /api/pull") == 1 and server.count("POST /api/chat") == 0
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "could not pull 'nosuch:1b'" in proc.stderr and "file does not exist" in proc.stderr


def test_ollama_host_forms(monkeypatch):
    from basesel.models.ollama import ollama_host

    assert ollama_host(None) == "http://localhost:11434"
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0")  # as users set it for `ollama serve`: port 11434, not 80
    assert ollama_host(None) == "http://0.0.0.0:11434"
    assert ollama_host("127.0.0.1:9999") == "http://127.0.0.1:9999"  # --base-url wins over OLLAMA_HOST
    assert ollama_host("https://ollama.example.com/") == "https://ollama.example.com"
    assert ollama_host("[::1]") == "http://[::1]:11434"


def test_missing_ollama_sdk_names_the_extra(monkeypatch):
    import sys

    from basesel.errors import MissingDependencyError
    from basesel.models import create_model

    monkeypatch.setitem(sys.modules, "ollama", None)
    with pytest.raises(MissingDependencyError) as err:
        create_model("qwen3:8b")
    assert "pip install 'basesel[ollama]'" in err.value.hint


def test_server_down_names_host_and_ollama_serve(tmp_path, scenarios):
    with FakeOllama() as server:
        url = server.url
    proc = run_cli(["baseline", "--model", "qwen3:8b", "--base-url", url, "--judge", "qwen3:8b", "--judge-base-url", url, "--rubric", "support", "--scenarios", str(scenarios)], tmp_path)
    assert proc.returncode == 1 and url in proc.stderr and "ollama serve" in proc.stderr and "Traceback" not in proc.stderr


def test_ollama_host_env_is_used(tmp_path, scenarios):
    with FakeOllama() as server:
        env = cli_env(tmp_path, OLLAMA_HOST=server.url.removeprefix("http://"))  # host:port, as Ollama documents it
        proc = subprocess.run(BASESEL + ["baseline", "--model", "qwen3:8b", "--judge", "qwen3:8b", "--rubric", "support", "--scenarios", str(scenarios), "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert server.count("POST /api/chat") == 8
    summary = json.loads(proc.stdout)
    assert summary["candidate"]["endpoint"] == server.url and summary["judge_reliability"]["judge_is_candidate"]


def test_thinking_is_counted_and_can_be_disabled(tmp_path, scenarios):
    with FakeOllama(thinking=True) as server:
        proc = run_cli(baseline(server, scenarios), tmp_path)
        responses = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
        assert all(r["usage"]["thinking_tokens"] > 0 for r in responses)
        off = run_cli(baseline(server, scenarios, "--no-think", "--out", "run-off"), tmp_path)
        sent = [b.get("think") for r, b in server.requests if r == "POST /api/chat"][-8:]
    assert proc.returncode in (0, 5, 7) and off.returncode in (0, 5, 7)  # 7: the judge is the candidate (provisional)
    assert sent.count(False) == 8
    off_responses = [json.loads(line) for line in (tmp_path / "run-off" / "responses.jsonl").read_text().splitlines()]
    assert all(r["usage"]["thinking_tokens"] == 0 for r in off_responses)


def test_transient_errors_retried_and_unreadable_verdict_retried(tmp_path, scenarios):
    with FakeOllama() as server:
        server.faults = ["500", "badjson"]
        proc = run_cli(baseline(server, scenarios, "--concurrency", "1"), tmp_path)
    summary = json.loads(proc.stdout)
    assert summary["counts"]["errored"] == 0 and summary["counts"]["scored"] == 4 and summary["counts"]["unscored"] == 0


def test_think_option_per_model_overrides_the_run_wide_setting(tmp_path, scenarios):
    """-o think=false for the candidate, --judge-option think=true for the judge, over --no-think; and a
    per-model setting keys the cache apart (an answer given with thinking is not reused without it)."""
    def chat_thinks(server, start):
        calls = [b for r, b in server.requests if r == "POST /api/chat"][start:]
        return [b.get("think") for b in calls if "format" not in b], [b.get("think") for b in calls if "format" in b]

    with FakeOllama(thinking=True) as server:
        plain = run_cli(baseline(server, scenarios), tmp_path)
        assert chat_thinks(server, 0) == ([None] * 4, [None] * 4)
        off = run_cli(baseline(server, scenarios, "-o", "think=false", "--out", "run-off"), tmp_path)
        assert chat_thinks(server, 8) == ([False] * 4, [])  # not the cached answers of the first run; the judge's verdicts are
        mixed = run_cli(baseline(server, scenarios, "--no-think", "--judge-option", "think=true", "--out", "run-mixed", "--no-cache"), tmp_path)
        assert chat_thinks(server, 12) == ([False] * 4, [True] * 4)
    assert {plain.returncode, off.returncode, mixed.returncode} <= {0, 5, 7}, off.stderr + mixed.stderr
    off_responses = [json.loads(line) for line in (tmp_path / "run-off" / "responses.jsonl").read_text().splitlines()]
    assert all(r["usage"]["thinking_tokens"] == 0 and not r["cached"] for r in off_responses)
    manifest = json.loads((tmp_path / "run-off" / "manifest.json").read_text())
    assert manifest["candidate"]["think"] is False and "think" not in manifest["judge"]


def test_bad_think_option_is_a_clear_error(tmp_path, scenarios):
    with FakeOllama() as server:
        proc = run_cli(baseline(server, scenarios, "-o", "think=maybe"), tmp_path)
        assert server.count("POST /api/chat") == 0
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "think='maybe'" in proc.stderr and "-o think=false" in proc.stderr
