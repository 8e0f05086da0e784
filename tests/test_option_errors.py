"""Bad backend option values and base URLs are ConfigErrors naming the option (never 'internal error')."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BASESEL, cli_env

JUDGE = ["--judge", "ollama/qwen3:8b", "--judge-base-url", "http://127.0.0.1:9"]  # never reached: the candidate fails first


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--model", "qwen3:8b", "--base-url", "http://127.0.0.1:9", "-o", "timeout=abc"], ["option timeout='abc' for ollama/qwen3:8b is not a number", "-o timeout="]),
        (["--model", "openai/x", "--base-url", "http://127.0.0.1:9/v1", "-o", "timeout=abc"], ["option timeout='abc' for openai/x", "-o timeout="]),
        (["--model", "anthropic/x", "--base-url", "http://127.0.0.1:9", "-o", "timeout=abc"], ["option timeout='abc' for anthropic/x", "-o timeout="]),
        (["--model", "embedded", "-o", "n_ctx=abc"], ["option n_ctx='abc'", "is not a whole number", "-o n_ctx="]),
        (["--model", "qwen3:8b", "--base-url", "http://127.0.0.1:9", "-o", "pull=perhaps"], ["option pull='perhaps'", "-o pull=true"]),
        (["--model", "openai/x", "--base-url", "http://[::1"], ["invalid base URL 'http://[::1' for model 'openai/x'", "Invalid IPv6 URL", "http://[::1]:11434"]),
        (["--model", "qwen3:8b", "--base-url", "http://127.0.0.1:abc"], ["invalid base URL", "for model 'qwen3:8b'", "http://host:port"]),
        (["--model", "qwen3:8b", "--base-url", "http://127.0.0.1:9", "--judge-option", "timeout=soon"], ["option timeout='soon' for ollama/qwen3:8b", "--judge-option timeout="]),
    ],
)
def test_bad_option_or_base_url_is_a_clear_config_error(tmp_path, args, fragments):
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(json.dumps({"input": "hello"}) + "\n")
    proc = subprocess.run(BASESEL + ["baseline", *args, *JUDGE, "--rubric", "support", "--scenarios", str(scenarios), "--out", "run"],
                          cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr and "error:" in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def test_retry_errors_refuses_flags_it_would_ignore(tmp_path):
    """--retry-errors re-runs with the run's own settings: a flag it cannot honour is a usage error
    naming it (exit 2), before anything runs; the servers may still be given."""
    proc = subprocess.run(BASESEL + ["baseline", "--retry-errors", "run", "--model", "openai/other", "-n", "9", "--base-url", "http://127.0.0.1:9/v1"],
                          cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "--model, -n would be ignored" in " ".join(proc.stderr.split()) and "--base-url" in proc.stderr


def test_judge_calibrate_needs_a_named_judge(tmp_path):
    proc = subprocess.run(BASESEL + ["judge", "calibrate", "--labels", "support"], cwd=tmp_path, env=cli_env(tmp_path, OLLAMA_HOST="http://127.0.0.1:9"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no judge given" in proc.stderr and "--judge SPEC" in proc.stderr
