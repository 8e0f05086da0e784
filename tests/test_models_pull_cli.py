"""`basesel models` and `basesel pull` against loopback servers."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BASESEL, cli_env
from fakes import FakeHFHub, FakeOllama


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
    assert "verified: ollama/qwen3:8b answered" in proc.stderr and "basesel baseline --model ollama/qwen3:8b" in proc.stderr


def test_pull_namespaced_ollama_tag_verifies_it_as_an_ollama_model(tmp_path):
    """someuser/mymodel is an Ollama namespace, not provider/model: verified and suggested as ollama/..."""
    with FakeOllama(pulled=()) as server:
        proc = run_cli(["pull", "someuser/mymodel", "--base-url", server.url], tmp_path)
        assert server.count("POST /api/pull") == 1 and server.count("POST /api/chat") == 1
    assert proc.returncode == 0, proc.stderr
    assert "verified: ollama/someuser/mymodel answered" in proc.stderr
    assert "basesel baseline --model ollama/someuser/mymodel" in proc.stderr and "unknown provider" not in proc.stderr


@pytest.mark.parametrize("model, fragment", [("", "no model to pull"), ("  ", "no model to pull"), ("ollama/", "no model to pull"),
                                             ("openai/gpt-4o-mini", "openai models are not pulled"), ("hf/", "no Hugging Face repo")])
def test_pull_without_a_pullable_name_is_a_clear_error(tmp_path, model, fragment):
    with FakeOllama(pulled=()) as server:
        proc = run_cli(["pull", model, "--base-url", server.url, "--file", "x.gguf"], tmp_path)
        assert server.count("POST") == 0  # nothing sent
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert fragment in proc.stderr and "basesel pull" in proc.stderr


def test_bad_base_url_for_pull_and_models_is_a_clear_error(tmp_path):
    for args in (["pull", "qwen3:8b", "--base-url", "http://[::1"], ["models", "--base-url", "http://[::1/v1"]):
        proc = run_cli(args, tmp_path)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
        assert "invalid base URL 'http://[::1" in proc.stderr and "--base-url" in proc.stderr


def test_pull_with_ollama_down_names_host(tmp_path):
    with FakeOllama() as server:
        url = server.url
    proc = run_cli(["pull", "qwen3:8b", "--base-url", url], tmp_path)
    assert proc.returncode == 1 and url in proc.stderr and "ollama serve" in proc.stderr and "Traceback" not in proc.stderr


def test_pull_from_hugging_face_offline_is_a_clear_error(tmp_path):
    proc = run_cli(["pull", "hf/Qwen/Qwen3-8B-GGUF", "--file", "Qwen3-8B-Q4_K_M.gguf"], tmp_path, HF_HUB_OFFLINE="1")
    assert proc.returncode == 1 and "could not download Qwen3-8B-Q4_K_M.gguf" in proc.stderr and "Traceback" not in proc.stderr
    missing_file = run_cli(["pull", "hf/Qwen/Qwen3-8B-GGUF"], tmp_path)
    assert missing_file.returncode == 2 and "--file" in missing_file.stderr  # a missing flag: usage


def test_pull_unknown_ollama_tag_is_a_clear_error(tmp_path):
    with FakeOllama(pulled=()) as server:
        server.unknown = {"qwen9:1b"}
        proc = run_cli(["pull", "qwen9:1b", "--base-url", server.url], tmp_path)
        assert server.count("POST /api/chat") == 0  # nothing to verify
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "could not pull 'qwen9:1b'" in proc.stderr and "ollama.com/library" in proc.stderr


@pytest.mark.slow
def test_pull_gguf_from_a_hugging_face_endpoint_then_verify_it_answers(tmp_path):
    """hf/<repo> --file: huggingface_hub downloads into --dest, then the GGUF is loaded by llama.cpp and
    asked a test prompt. The Hub is a loopback stand-in (HF_ENDPOINT) serving the embedded model's file."""
    from basesel.models.gguf import embedded_model_path

    source = embedded_model_path()
    with FakeHFHub({"smol.gguf": source}) as hub:
        proc = run_cli(["pull", "hf/acme/smol-GGUF", "--file", "smol.gguf", "--dest", "weights"], tmp_path, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf"))
        assert hub.count("GET /acme/smol-GGUF/resolve/main/smol.gguf") == 1
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / "weights" / "smol.gguf"
    assert target.stat().st_size == source.stat().st_size
    assert "verified: llamacpp/weights/smol.gguf answered" in proc.stderr
    assert "basesel baseline --model llamacpp/weights/smol.gguf" in proc.stderr


def test_pull_missing_file_on_the_hub_is_a_clear_error(tmp_path):
    from basesel.models.gguf import embedded_model_path

    with FakeHFHub({"smol.gguf": embedded_model_path()}) as hub:
        proc = run_cli(["pull", "hf/acme/smol-GGUF", "--file", "nope.gguf", "--no-verify"], tmp_path, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "could not download nope.gguf from the Hugging Face repo acme/smol-GGUF" in proc.stderr
    assert not (tmp_path / "models" / "nope.gguf").exists()


def test_models_table_names_the_extra_for_a_missing_sdk(monkeypatch):
    import sys

    from typer.testing import CliRunner

    from basesel.cli.main import app

    monkeypatch.setitem(sys.modules, "anthropic", None)  # as if the SDK were not installed
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    anthropic_line = next(line for line in result.output.splitlines() if line.startswith("│ anthropic"))
    assert "no: pip install 'basesel[anthropic]'" in anthropic_line
    assert "not reachable at http://127.0.0.1:9/api/tags" in result.output and "ollama serve" in result.output


def test_llamacpp_spec_naming_a_hub_file_resolves_through_huggingface_hub(tmp_path):
    """`llamacpp/<owner>/<repo>/<file.gguf>`: fetched once into the HF cache and loaded; offline, a clear error."""
    import sys

    from basesel.models.gguf import embedded_model_path

    source = embedded_model_path()
    code = ("from basesel.models import create_model\n"
            "m = create_model('llamacpp/acme/smol-GGUF/smol.gguf')\n"
            "print(m.identity.digest, m.identity.facts['path'])\n")
    with FakeHFHub({"smol.gguf": source}) as hub:
        env = cli_env(tmp_path, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf"))
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        digest, path = proc.stdout.split()
        assert hub.count("GET /acme/smol-GGUF/resolve/main/smol.gguf") == 1
    assert path.startswith(str(tmp_path / "hf")) and digest.startswith("sha256:")
    (tmp_path / "s.jsonl").write_text('{"input": "hi"}\n')
    offline = run_cli(["baseline", "--model", "llamacpp/acme/smol-GGUF/other.gguf", "--judge", "llamacpp/acme/smol-GGUF/other.gguf", "--rubric", "support", "--scenarios", "s.jsonl"], tmp_path, HF_HUB_OFFLINE="1")
    assert offline.returncode == 1 and "Traceback" not in offline.stderr
    assert "could not fetch other.gguf from the Hugging Face repo acme/smol-GGUF" in offline.stderr
