"""`basesel models` and `basesel pull` against loopback servers."""

from __future__ import annotations

import json
import subprocess

from conftest import BASESEL, cli_env
from fakes import FakeOllama


def run_cli(args, tmp_path, **env):
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path, **env), capture_output=True, text=True, timeout=120)


def test_models_reports_installed_reachable_and_keys_without_printing_them(tmp_path):
    with FakeOllama(pulled=("qwen3:8b", "gemma3:4b")) as server:
        proc = run_cli(["models", "--json"], tmp_path, OLLAMA_HOST=server.url, OPENAI_API_KEY="sk-secret-value-123")
    rows = {r["provider"]: r for r in json.loads(proc.stdout)}
    assert rows["ollama"]["installed"] and "2 model(s) pulled" in rows["ollama"]["status"] and "qwen3:8b" in rows["ollama"]["status"]
    assert rows["openai"]["status"] == "OPENAI_API_KEY set" and rows["anthropic"]["status"] == "ANTHROPIC_API_KEY not set"
    assert "not reachable" in rows["vllm"]["status"]
    assert "sk-secret-value-123" not in proc.stdout + proc.stderr


def test_pull_streams_progress_then_verifies(tmp_path):
    with FakeOllama(pulled=()) as server:
        proc = run_cli(["pull", "qwen3:8b", "--base-url", server.url], tmp_path)
        assert server.count("POST /api/pull") == 1 and server.count("POST /api/chat") == 1
    assert proc.returncode == 0, proc.stderr
    assert "verified: qwen3:8b answered" in proc.stderr


def test_pull_with_ollama_down_names_host(tmp_path):
    with FakeOllama() as server:
        url = server.url
    proc = run_cli(["pull", "qwen3:8b", "--base-url", url], tmp_path)
    assert proc.returncode == 1 and url in proc.stderr and "ollama serve" in proc.stderr and "Traceback" not in proc.stderr


def test_pull_from_hugging_face_offline_is_a_clear_error(tmp_path):
    proc = run_cli(["pull", "hf/Qwen/Qwen3-8B-GGUF", "--file", "Qwen3-8B-Q4_K_M.gguf"], tmp_path, HF_HUB_OFFLINE="1")
    assert proc.returncode == 1 and "could not download Qwen3-8B-Q4_K_M.gguf" in proc.stderr and "Traceback" not in proc.stderr
    missing_file = run_cli(["pull", "hf/Qwen/Qwen3-8B-GGUF"], tmp_path)
    assert missing_file.returncode == 1 and "--file" in missing_file.stderr
