"""Responses cut off by the token limit (finish reason "length") are counted, warned about, and
reported in the decision document."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402

MARKER = "LONGREPLY"


@pytest.fixture
def truncating_stub():
    server, stats = serve(0, delay=0.0, truncate_marker=MARKER)
    yield server.server_address[1], stats
    server.shutdown()
    server.server_close()


def test_stub_reports_length_for_marked_prompts(truncating_stub):
    import urllib.request

    port, _ = truncating_stub

    def ask(text: str) -> dict:
        body = json.dumps({"model": "stub", "messages": [{"role": "user", "content": text}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["choices"][0]

    assert ask(f"please {MARKER} now")["finish_reason"] == "length"
    assert ask("a normal question")["finish_reason"] == "stop"


def test_truncated_responses_are_counted_warned_and_documented(truncating_stub, tmp_path):
    port, stats = truncating_stub
    url = f"http://127.0.0.1:{port}/v1"
    scenarios = tmp_path / "s.jsonl"
    rows = [{"id": f"q{i}", "input": f"My invoice {i} is wrong, please help" + (f" {MARKER}" if i < 2 else "")} for i in range(5)]
    scenarios.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run(
        BASESEL + ["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/stub", "--judge-base-url", url,
                   "--rubric", "support", "--scenarios", str(scenarios), "--json", "--out", "run", "--doc", "eval.md"],
        cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode in (0, 5, 7), proc.stderr  # 5/5 passed: the interval may still cross a cut-off; 7: the judge is the candidate
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert stats.truncated == 2
    assert summary["counts"]["truncated"] == 2 and summary["counts"]["responses"] == 5
    assert "2 responses were cut off by --max-tokens" in proc.stderr and "finish reason 'length'" in proc.stderr
    assert any("cut off by --max-tokens" in w for w in summary["warnings"])
    records = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
    assert sorted(r["scenario_id"] for r in records if r.get("truncated")) == ["q0", "q1"]
    assert all(r["finish_reason"] == "length" for r in records if r.get("truncated"))
    doc = (tmp_path / "eval.md").read_text()
    assert "(0 errored, 2 cut off by the token limit)" in doc
