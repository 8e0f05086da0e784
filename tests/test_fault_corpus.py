"""The fault corpus: every kind of server misbehaviour, against the OpenAI-compatible, Ollama and Anthropic
backends, through the real baseline pipeline (the CLI command, in process) and through `Executor.call`.

Outcome each time: the call is retried with backoff and the sample recovers, or (when the fault persists)
the sample is marked errored / unscored and the next run (`--retry-errors`) takes it up again. Never a
traceback, and never a sample counted as the model's failure: the loopback servers answer every judged
criterion 'yes', so every scored sample must pass.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from fakes import FakeAnthropic, FakeOllama, FakeOpenAI

ATTEMPTS = 3  # the retry policy in these tests: 3 attempts, millisecond backoff
JUDGE_ATTEMPTS = 3  # --judge-retries' default of 2, plus the first


@dataclass(frozen=True)
class Backend:
    name: str
    server: type
    chat_path: str

    def flags(self, url: str) -> list[str]:
        if self.name == "openai":
            return ["--model", "openai/cand", "--base-url", f"{url}/v1", "--judge", "openai/judge", "--judge-base-url", f"{url}/v1"]
        if self.name == "ollama":
            return ["--model", "qwen3:8b", "--base-url", url, "--judge", "ollama/qwen3:8b", "--judge-base-url", url]
        return ["--model", "anthropic/claude-cand", "--base-url", url, "--judge", "anthropic/claude-judge", "--judge-base-url", url]

    def model(self, url: str, **options):
        from basesel.models import create_model

        spec, base = {"openai": ("openai/cand", f"{url}/v1"), "ollama": ("ollama/qwen3:8b", url), "anthropic": ("anthropic/claude-cand", url)}[self.name]
        return create_model(spec, base_url=base, options=options)


BACKENDS = [
    Backend("openai", FakeOpenAI, "POST /v1/chat/completions"),
    Backend("ollama", FakeOllama, "POST /api/chat"),
    Backend("anthropic", FakeAnthropic, "POST /v1/messages"),
]
# What the server does wrong. Transport and protocol faults hit the candidate's call; the verdict faults
# (JSON of the wrong shape, JSON cut off) hit the judge's, and are the judge's answer, not the server's.
SERVER_FAULTS = ["429", "429-bare", "500", "502", "503", "reset", "truncate", "drop", "stall", "notjson", "empty"]
VERDICT_FAULTS = ["schema", "badjson"]


@pytest.fixture
def fast_retries(monkeypatch):
    from basesel.run import baseline
    from basesel.run.executor import RetryPolicy

    monkeypatch.setattr(baseline, "RetryPolicy", functools.partial(RetryPolicy, attempts=ATTEMPTS, base_delay_s=0.005, max_delay_s=0.02))


def baseline(args: list[str]):
    """`basesel baseline ... --json` in process: a traceback would surface as the result's exception."""
    from basesel.cli.main import app

    result = CliRunner().invoke(app, ["baseline", *args, "--json"], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code not in (1, 2), (result.exit_code, result.output)  # a decision (0, 3-8), not an error
    assert "Traceback" not in result.output and "internal error" not in result.output
    return json.loads(result.stdout)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_no_false_failures(summary):
    gate = summary["gate"]
    assert gate["passed"] == gate["scored"], gate  # every verdict the fakes give is 'yes'


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_every_fault_is_retried_or_left_errored_for_the_next_run(tmp_path, fast_retries, backend):
    """One baseline run holds the whole corpus: per fault, one scenario meets it once (retried, recovered)
    and one on every attempt (errored, or unscored for a verdict fault); then `--retry-errors` takes up
    every one of those and the run ends fully scored."""
    cases = [(f, "always") for f in SERVER_FAULTS + VERDICT_FAULTS + ["judge-503"]] + [(f, "once") for f in SERVER_FAULTS + VERDICT_FAULTS]
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"{f}-{how}", "input": f"Order {i} never arrived"}) + "\n" for i, (f, how) in enumerate(cases)))
    index = {case: i for i, case in enumerate(cases)}
    with backend.server() as server:
        server.slow_s = 2.0  # 'stall': the body stops half way, for longer than the read timeout (1 s)
        for (fault, how), i in index.items():
            judged = fault in VERDICT_FAULTS or fault.startswith("judge-")
            # the judge's request quotes the answer, which quotes the scenario: only it holds "settings page: ..."
            needle = f"settings page: Order {i} never" if judged else f"Order {i} never"
            times = 1 if how == "once" else (JUDGE_ATTEMPTS if fault in VERDICT_FAULTS else ATTEMPTS)
            server.targeted[needle] = [fault.removeprefix("judge-")] * times
        flags = backend.flags(server.url) + ["--rubric", "support", "--scenarios", str(scenarios), "--concurrency", "4", "--out", "run",
                                             "--option", "timeout=1", "--judge-option", "timeout=1"]
        first = baseline(flags)
        calls_first = server.count(backend.chat_path)
        responses, assessments = lines(tmp_path / "run" / "responses.jsonl"), lines(tmp_path / "run" / "assessments.jsonl")
        second = baseline(["--retry-errors", "run"])
        calls_second = server.count(backend.chat_path) - calls_first
    errors = {r["scenario_id"]: r["error"] for r in responses if "error" in r}
    unscored = {a["scenario_id"]: a for a in assessments if not a["scored"]}
    server_always = {f"{f}-always" for f in SERVER_FAULTS}
    verdict_always = {f"{f}-always" for f in VERDICT_FAULTS}
    # first run: every one-off fault recovered; persistent ones errored (server) or unscored (verdict, judge server)
    assert set(errors) == server_always, set(errors) ^ server_always
    for sid, error in errors.items():
        assert f"gave up after {ATTEMPTS} attempts" in error and "127.0.0.1" in error, (sid, error)
    assert set(unscored) == verdict_always | {"judge-503-always"}, set(unscored)
    for sid in verdict_always:
        assert "could not be read" in unscored[sid]["unscored_reason"] and not unscored[sid].get("judge_error"), unscored[sid]
    assert unscored["judge-503-always"]["judge_error"] is True
    assert first["counts"]["scored"] == len(cases) - len(errors) - len(unscored)
    assert_no_false_failures(first)
    answers = len(cases) + len(SERVER_FAULTS) + (ATTEMPTS - 1) * len(SERVER_FAULTS)  # each once, + 1 retry per one-off, + the persistent
    verdicts = (len(cases) - len(SERVER_FAULTS)) + len(VERDICT_FAULTS) * (1 + JUDGE_ATTEMPTS - 1) + (ATTEMPTS - 1)  # likewise
    assert calls_first == answers + verdicts
    # the next run: the errored answers asked and judged again, the failed judge call made again, and the
    # unreadable verdicts asked again (never cached): everything is scored
    assert calls_second == 2 * len(SERVER_FAULTS) + 1 + len(VERDICT_FAULTS)
    assert second["counts"]["errored"] == 0 and second["counts"]["unscored"] == 0
    assert second["counts"]["scored"] == len(cases)
    assert_no_false_failures(second)
    assert "Traceback" not in (tmp_path / "docs" / "base-model-evaluation.md").read_text()


class RecordingPolicy:
    """The executor's retry policy, with the delays it was asked for kept (and slept for 1 ms)."""

    def __init__(self, attempts: int = ATTEMPTS):
        from basesel.run.executor import RetryPolicy

        self.policy = RetryPolicy(attempts=attempts, base_delay_s=0.001, max_delay_s=0.002)
        self.attempts = attempts
        self.asked: list[float | None] = []  # the Retry-After each backoff saw (None: none sent)

    def delay(self, attempt, exc):
        self.asked.append(exc.retry_after)
        return min(self.policy.delay(attempt, exc), 0.001)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_executor_retries_each_fault_once_and_gives_up_cleanly_when_it_persists(tmp_path, backend):
    """Executor.call on the real backend classes: one fault -> 2 attempts and an answer; a fault on every
    attempt -> no answer, an error naming the server's problem, and no exception."""
    from basesel.models import GenerationParams, Message
    from basesel.run.cache import ResponseCache
    from basesel.run.executor import Executor

    outcomes = {}
    with backend.server() as server:
        server.slow_s = 1.5
        model = backend.model(server.url)
        stalling = backend.model(server.url, timeout=0.5)  # a read timeout short enough for the test
        policy = RecordingPolicy()
        executor = Executor(ResponseCache(tmp_path / "cache", enabled=False), policy)  # type: ignore[arg-type]

        async def go():
            try:
                for i, fault in enumerate(SERVER_FAULTS):
                    target = stalling if fault == "stall" else model
                    server.faults = [fault]
                    once = await executor.call(target, [Message("user", f"once {i}")], GenerationParams(max_tokens=8))
                    server.faults = [fault] * ATTEMPTS
                    always = await executor.call(target, [Message("user", f"always {i}")], GenerationParams(max_tokens=8))
                    outcomes[fault] = (once, always)
            finally:
                await model.aclose()
                await stalling.aclose()

        asyncio.run(go())
    for fault, (once, always) in outcomes.items():
        assert once.ok and once.attempts == 2 and once.completion.text, fault
        assert not always.ok and always.attempts == ATTEMPTS and f"gave up after {ATTEMPTS} attempts" in always.error, fault
        assert server.url.split("//")[1] in always.error, (fault, always.error)  # it names the server
    assert "429" in outcomes["429"][1].error and "not JSON" in outcomes["notjson"][1].error
    # Retry-After: 0 on '429' is read where the SDK exposes the headers (Ollama's does not: plain backoff)
    assert policy.asked[:ATTEMPTS] == ([None] * ATTEMPTS if backend.name == "ollama" else [0.0] * ATTEMPTS)
    assert policy.asked[ATTEMPTS] is None  # '429-bare': no Retry-After, exponential backoff with jitter


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b.name == "anthropic"], ids=lambda b: b.name)
def test_retry_after_is_waited_for(tmp_path, backend):
    """(OpenAI's: test_fault_injection.py; Ollama's SDK does not expose the header.)"""
    from basesel.models import GenerationParams, Message
    from basesel.run.cache import ResponseCache
    from basesel.run.executor import Executor, RetryPolicy

    with backend.server() as server:
        model = backend.model(server.url)
        executor = Executor(ResponseCache(tmp_path / "cache", enabled=False), RetryPolicy(attempts=2, base_delay_s=0.001))

        async def go():
            try:
                server.faults = ["429-wait"]  # Retry-After: 1
                return await executor.call(model, [Message("user", "hi")], GenerationParams(max_tokens=8))
            finally:
                await model.aclose()

        result = asyncio.run(go())
        times = [t for (r, _), t in zip(server.requests, server.times) if r == backend.chat_path]
    assert result.ok and result.attempts == 2 and times[1] - times[0] >= 0.95
