"""Faults from a loopback OpenAI-compatible server: each run ends recovered, or with a clear error,
and with every finished result on disk."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BASESEL, cli_env
from fakes import FakeOpenAI

N = 4


def run(tmp_path, server, *extra, out="run"):
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"Order {i} never arrived"}) + "\n" for i in range(N)))
    url = f"{server.url}/v1"
    return subprocess.run(
        BASESEL + ["baseline", "--model", "openai/cand", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                   "--rubric", "support", "--scenarios", str(scenarios), "--concurrency", "1", "--out", out, "--json", *extra],
        cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=180,
    )


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("fault", ["429", "500", "drop", "truncate"])
def test_transient_faults_are_retried_and_recovered(tmp_path, fault):
    with FakeOpenAI() as server:
        server.faults = [fault, fault]
        proc = run(tmp_path, server)
        chat_calls = server.count("POST /v1/chat/completions")
    summary = json.loads(proc.stdout)
    assert summary["counts"]["errored"] == 0 and summary["counts"]["scored"] == N, proc.stderr
    assert chat_calls == 2 * N + 2  # every call once, plus the two that failed


def test_timeouts_past_the_limit_are_retried(tmp_path):
    with FakeOpenAI() as server:
        server.slow_s = 2.0
        server.faults = ["slow"]
        proc = run(tmp_path, server, "--option", "timeout=0.5", "--judge-option", "timeout=0.5")
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == N and summary["counts"]["errored"] == 0


def test_persistent_failure_records_errors_then_retry_errors_finishes(tmp_path):
    with FakeOpenAI() as server:
        server.targeted = {"Order 0 never": ["500"] * 4}  # q0's candidate call exhausts its 4 attempts
        proc = run(tmp_path, server)
        summary = json.loads(proc.stdout)
        assert summary["counts"]["errored"] == 1 and summary["counts"]["scored"] == N - 1
        assert any("errored" in w for w in summary["warnings"])
        errored = [r for r in lines(tmp_path / "run" / "responses.jsonl") if "error" in r]
        assert len(errored) == 1 and "gave up after 4 attempts" in errored[0]["error"]
        before = server.count("POST /v1/chat/completions")
        again = subprocess.run(BASESEL + ["baseline", "--retry-errors", "run", "--json"], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
        assert server.count("POST /v1/chat/completions") - before == 2  # only the errored sample: response + verdict
    fixed = json.loads(again.stdout)
    assert fixed["counts"]["errored"] == 0 and fixed["counts"]["scored"] == N


def test_malformed_judge_json_is_retried_then_unscored_never_failed(tmp_path):
    with FakeOpenAI() as server:
        server.targeted = {"Order 0 never": [None, "badjson", "badjson", "badjson"]}  # q0: its answer, then 3 judge attempts
        proc = run(tmp_path, server)
    summary = json.loads(proc.stdout)
    assert summary["counts"]["unscored"] == 1 and summary["counts"]["scored"] == N - 1
    assert summary["gate"]["scored"] == N - 1 and summary["gate"]["passed"] == N - 1  # excluded, not counted as a fail
    unscored = [a for a in lines(tmp_path / "run" / "assessments.jsonl") if not a["scored"]]
    assert "could not be read" in unscored[0]["unscored_reason"]
    assert "unscored" in (tmp_path / "docs" / "base-model-evaluation.md").read_text()


def test_a_fatal_error_stops_the_run_and_keeps_finished_results(tmp_path):
    """A judge model the server does not know (404) cannot be fixed by retrying: the run stops with a
    clear error, and the responses already written stay on disk for the next run."""
    with FakeOpenAI() as server:
        url = f"{server.url}/v1"
        proc = run(tmp_path, server, "--judge", "openai/missing", "--judge-base-url", url)
    assert proc.returncode == 1 and "model 'missing' not found" in proc.stderr and "Traceback" not in proc.stderr
    assert len(lines(tmp_path / "run" / "responses.jsonl")) >= 1


def test_retry_after_is_honoured_between_attempts(tmp_path):
    """A 429 with Retry-After: 1 -> the executor waits that second before the next attempt (the SDK's own
    retries are off), then the call succeeds; a fault per attempt past the limit ends as an error."""
    import asyncio

    from basesel.models import GenerationParams, Message, create_model
    from basesel.run.cache import ResponseCache
    from basesel.run.executor import Executor, RetryPolicy

    with FakeOpenAI() as server:
        model = create_model("openai/cand", base_url=f"{server.url}/v1")
        executor = Executor(ResponseCache(tmp_path, enabled=False), RetryPolicy(attempts=3, base_delay_s=0.01))

        async def go():
            try:
                server.faults = ["429-wait"]
                ok = await executor.call(model, [Message("user", "first")], GenerationParams(max_tokens=8))
                server.faults = ["500", "500", "500"]
                failed = await executor.call(model, [Message("user", "second")], GenerationParams(max_tokens=8))
                return ok, failed
            finally:
                await model.aclose()

        ok, failed = asyncio.run(go())
        chat_times = [t for (r, _), t in zip(server.requests, server.times) if r.endswith("/chat/completions")]
    assert ok.ok and ok.attempts == 2
    assert chat_times[1] - chat_times[0] >= 0.95
    assert not failed.ok and failed.attempts == 3 and "server error 500" in failed.error and "gave up after 3 attempts" in failed.error
    assert len(chat_times) == 5


def test_a_judge_server_that_keeps_failing_leaves_the_verdict_unscored_then_retry_errors_judges_it(tmp_path):
    with FakeOpenAI() as server:
        server.targeted = {"settings page: Order 0": ["500"] * 4}  # only q0's judge call (it quotes q0's answer)
        proc = run(tmp_path, server)
        summary = json.loads(proc.stdout)
        assert summary["counts"]["unscored"] == 1 and summary["counts"]["scored"] == N - 1 and summary["counts"]["errored"] == 0
        assert any("the judge's server kept failing" in w for w in summary["warnings"])
        unscored = [a for a in lines(tmp_path / "run" / "assessments.jsonl") if not a["scored"]]
        assert unscored[0]["scenario_id"] == "q0" and unscored[0]["judge_error"] is True
        before = server.count("POST /v1/chat/completions")
        again = subprocess.run(BASESEL + ["baseline", "--retry-errors", "run", "--json"], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
        assert server.count("POST /v1/chat/completions") - before == 1  # the verdict only: the answer is on disk
    fixed = json.loads(again.stdout)
    assert fixed["counts"]["unscored"] == 0 and fixed["counts"]["scored"] == N, again.stderr
    assert not any("kept failing" in w for w in fixed["warnings"])


def test_a_request_the_server_refuses_errors_that_sample_only_and_the_run_goes_on(tmp_path):
    with FakeOpenAI() as server:
        server.targeted = {"Order 2 never": ["400-context"]}  # q2's answer: too long for the model, once
        proc = run(tmp_path, server)
        calls = server.count("POST /v1/chat/completions")
    summary = json.loads(proc.stdout)
    assert proc.returncode != 1 and summary["counts"]["errored"] == 1 and summary["counts"]["scored"] == N - 1, proc.stderr
    assert calls == 2 * N - 1  # refused once, never retried: retrying the same request cannot help
    errored = [r for r in lines(tmp_path / "run" / "responses.jsonl") if "error" in r]
    assert errored[0]["scenario_id"] == "q2" and "maximum context length" in errored[0]["error"]
    assert any("Most common error (1x)" in w and "maximum context length" in w for w in summary["warnings"])


def test_a_server_that_refuses_every_request_stops_the_run_with_its_message(tmp_path):
    with FakeOpenAI() as server:
        server.faults = ["400-context"] * 20
        proc = run(tmp_path, server)
    assert proc.returncode == 1 and "maximum context length" in proc.stderr and "Traceback" not in proc.stderr
    assert len(lines(tmp_path / "run" / "responses.jsonl")) >= 1  # what was recorded stays on disk


@pytest.mark.parametrize(
    "header, expected",
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-2", 0.0),
        ("Sun, 29 Nov 2026 12:00:30 GMT", 30.0),  # an HTTP date, 30 s after `now`
        ("Sun, 29 Nov 2026 11:59:00 GMT", 0.0),  # already past: retry at once
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header, expected):
    import datetime as dt

    from basesel.models.base import retry_after_seconds

    class Response:
        headers = {} if header is None else {"retry-after": header}

    now = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.timezone.utc).timestamp()
    assert retry_after_seconds(Response(), now=now) == expected
    assert retry_after_seconds(object()) is None  # no headers at all (an SDK error without a response)
