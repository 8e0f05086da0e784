"""The OpenAI-compatible backend against a real `llama_cpp.server` serving the embedded model on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import BASESEL, cli_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def llama_server(tmp_path):
    pytest.importorskip("llama_cpp.server")
    from basesel.models.gguf import embedded_model_path

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_model_path()), "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("llama_cpp.server exited during start-up")
                time.sleep(0.3)
        else:
            pytest.fail("llama_cpp.server did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_openai_backend_against_llama_cpp_server(llama_server, tmp_path):
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(json.dumps({"id": "a", "input": "I was charged twice."}) + "\n" + json.dumps({"id": "b", "input": "The reset email never arrives."}) + "\n")
    proc = subprocess.run(
        BASESEL + ["baseline", "--model", "openai/smollm2", "--base-url", llama_server, "--judge", "openai/smollm2-judge", "--judge-base-url", llama_server,
                   "--rubric", "support", "--scenarios", str(scenarios), "--max-tokens", "32", "--out", "run", "--json"],
        cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300,
    )
    summary = json.loads(proc.stdout)
    assert summary["counts"]["responses"] == 2 and summary["counts"]["errored"] == 0, proc.stderr
    # the server rejects the json_schema form; the backend switches to llama.cpp's json_object + schema
    # form, so the grammar-constrained verdicts are readable
    assert summary["counts"]["unscored"] == 0 and summary["counts"]["scored"] == 2
    responses = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
    # --max-tokens reached the server (unbounded, the model writes hundreds). llama_cpp.server at times
    # reports one token past the limit (seen here: 33 for max_tokens=32, finish "length").
    assert all(0 < r["usage"]["completion_tokens"] <= 33 and r["finish_reason"] in ("length", "stop") for r in responses), [r["usage"] for r in responses]
