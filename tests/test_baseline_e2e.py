"""End-to-end baseline runs: an OpenAI-compatible server on 127.0.0.1, the real embedded model,
kill-and-resume, the shared cache, and the README's demo path."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402


def _stub_server(delay: float):
    server, stats = serve(0, delay=delay)
    yield server.server_address[1], stats
    server.shutdown()
    server.server_close()


@pytest.fixture
def stub():
    yield from _stub_server(0.0)


@pytest.fixture
def slow_stub():
    yield from _stub_server(0.25)


def server_args(port: int) -> list[str]:
    url = f"http://127.0.0.1:{port}/v1"
    return ["--model", "openai/stub", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url]


def run_cli(args: list[str], tmp_path: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300, **kw)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_openai_compatible_run_writes_everything_and_rerun_hits_cache(stub, tmp_path):
    port, stats = stub
    proc = run_cli(["baseline", *server_args(port), "--domain", "support", "-n", "21", "--out", "run1", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {**summary["counts"], "scenarios": 21, "responses": 21, "scored": 21, "unscored": 0, "errored": 0}
    assert summary["gate"]["pass_rate"] == 1.0 and summary["gate"]["band"] == "sufficient"
    assert stats.chat == 42 and stats.structured == 21  # one candidate + one judge call per scenario
    run = tmp_path / "run1"
    for name in ("manifest.json", "responses.jsonl", "assessments.jsonl", "summary.json", "scenarios.jsonl"):
        assert (run / name).is_file(), name
    doc = (tmp_path / "docs" / "base-model-evaluation.md").read_text()
    for heading in ("## Model Selection", "### Selected Model", "## Evaluation Results", "## Failure Analysis", "## Judge Reliability", "## Qualitative Notes", "## Next Steps", "## Reproducibility"):
        assert f"\n\n{heading}\n" in doc  # its own paragraph: renders as a heading in any markdown viewer
    assert "Research was not run" in doc and "100.0%" in doc and "DEPLOY / QUALITATIVE REVIEW" in doc

    again = run_cli(["baseline", *server_args(port), "--domain", "support", "-n", "21", "--out", "run2", "--json"], tmp_path)
    assert again.returncode == 0
    assert stats.chat == 42  # a new run directory, zero model calls: the shared cache answered
    assert json.loads(again.stdout)["cache"]["model_calls"] == 0

    fresh = run_cli(["baseline", *server_args(port), "--domain", "support", "-n", "21", "--out", "run3", "--no-cache", "--json"], tmp_path)
    assert fresh.returncode == 0 and stats.chat == 84


def test_killed_run_resumes_without_repeating_finished_calls(slow_stub, tmp_path):
    port, stats = slow_stub
    n = 8
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"My invoice {i} is wrong, please help"}) + "\n" for i in range(n)))
    args = ["baseline", *server_args(port), "--rubric", str(REPO / "rubrics" / "support.yaml"), "--scenarios", str(scenarios), "--concurrency", "1", "--out", "run", "--no-cache"]
    proc = subprocess.Popen(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    try:
        while time.time() < deadline and len(read_lines(tmp_path / "run" / "assessments.jsonl")) < 3:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    time.sleep(0.2)  # let the server finish reading any request the killed run had sent
    responses_before = read_lines(tmp_path / "run" / "responses.jsonl")
    assessed_before = read_lines(tmp_path / "run" / "assessments.jsonl")
    assert 3 <= len(assessed_before) < n, "the run should have been killed half-way"
    candidate_calls_before = stats.chat - stats.structured
    judge_calls_before = stats.structured

    resumed = run_cli(args + ["--json"], tmp_path)
    summary = json.loads(resumed.stdout)
    assert summary["counts"]["scored"] == n
    # 8/8 passed, but the 95% interval (68-100%) still crosses the 70% cut-off: inconclusive
    assert summary["gate"]["inconclusive"] and resumed.returncode == 5
    # every finished call is reused from the run directory (the cache is off): only the rest is called
    assert (stats.chat - stats.structured) - candidate_calls_before == n - len(responses_before)
    assert stats.structured - judge_calls_before == n - len(assessed_before)
    assert read_lines(tmp_path / "run" / "assessments.jsonl")[: len(assessed_before)] == assessed_before
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert "resumed" in manifest


def test_ctrl_c_exits_130_with_how_to_resume_and_keeps_what_finished(slow_stub, tmp_path):
    port, stats = slow_stub
    n = 8
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"My parcel {i} is late, please help"}) + "\n" for i in range(n)))
    args = ["baseline", *server_args(port), "--rubric", str(REPO / "rubrics" / "support.yaml"), "--scenarios", str(scenarios), "--concurrency", "1", "--out", "run"]
    proc = subprocess.Popen(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    try:
        while time.time() < deadline and len(read_lines(tmp_path / "run" / "assessments.jsonl")) < 2:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "same --out" in err and "Traceback" not in err
    kept = read_lines(tmp_path / "run" / "assessments.jsonl")
    assert 2 <= len(kept) < n
    resumed = run_cli(args + ["--json"], tmp_path)
    assert json.loads(resumed.stdout)["counts"]["scored"] == n
    assert read_lines(tmp_path / "run" / "assessments.jsonl")[: len(kept)] == kept


def test_resuming_into_a_different_run_is_refused(stub, tmp_path):
    port, _ = stub
    assert run_cli(["baseline", *server_args(port), "--domain", "support", "-n", "21", "--out", "run"], tmp_path).returncode == 0
    other = run_cli(["baseline", *server_args(port), "--domain", "support", "-n", "22", "--out", "run"], tmp_path)
    assert other.returncode == 1 and "holds a different run" in other.stderr and "Traceback" not in other.stderr


@pytest.mark.slow
def test_embedded_model_end_to_end_and_report(tmp_path):
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(
        json.dumps({"id": "a", "input": "I was charged twice this month."}) + "\n" + json.dumps({"id": "b", "input": "How do I reset my password?"}) + "\n"
    )
    args = ["baseline", "--model", "embedded", "--judge", "embedded", "--rubric", "support", "--scenarios", str(scenarios),
            "--max-tokens", "40", "--out", "run", "--doc", "eval.md", "--json", "--system-prompt", "You are a helpful support assistant."]
    proc = run_cli(args, tmp_path)
    assert proc.returncode in (7, 8), proc.stderr  # the embedded model judging itself: provisional (8 only if a safety gate breaks)
    summary = json.loads(proc.stdout)
    assert summary["counts"]["responses"] == 2 and summary["counts"]["assessed"] == 2
    assert summary["candidate"]["digest"].startswith("sha256:") and summary["candidate"]["provider"] == "embedded"
    assert summary["judge_reliability"]["judge_is_candidate"] and summary["judge_reliability"]["judge_is_tiny"]
    assert any("tiny model" in w for w in summary["warnings"]) and any("candidate model itself" in w for w in summary["warnings"])
    responses = read_lines(tmp_path / "run" / "responses.jsonl")
    assert all(r["usage"]["completion_tokens"] <= 40 and r["answer"] for r in responses)
    doc = (tmp_path / "eval.md").read_text()
    assert summary["candidate"]["digest"] in doc and "SmolLM2" in doc
    # a re-run is answered from the cache: zero model calls
    again = run_cli(args, tmp_path)
    assert json.loads(again.stdout)["cache"]["model_calls"] == 0
    # the document re-renders from the run directory alone
    (tmp_path / "eval.md").unlink()
    rerender = run_cli(["report", "run", "--doc", "eval.md"], tmp_path)
    assert rerender.returncode == 0 and (tmp_path / "eval.md").read_text().count("## ") >= 8


@pytest.mark.slow
def test_readme_demo_command_path(tmp_path):
    """`make demo` as the README gives it, with a smaller N so the suite stays quick."""
    venv = Path(sys.prefix)
    proc = subprocess.run(
        ["make", "-C", str(REPO), "demo", f"VENV={venv}", "-o", f"{venv}/.basesel-installed",
         f"DEMO_OUT={tmp_path}/demo-run", f"DEMO_DOC={tmp_path}/demo.md", "DEMO_ARGS=-n 7 --max-tokens 24"],
        env=cli_env(tmp_path), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "baseline decision exit code" in proc.stdout
    doc = (tmp_path / "demo.md").read_text()
    assert "# Base Model Evaluation" in doc and "**Scenarios:** 7" in doc


@pytest.mark.parametrize("cap, expect_reason", [(400, ("stopped: the interval no longer crosses", "stopped: the taxonomy is exhausted", "stopped early")), (40, ("stopped early",))])
def test_until_decisive_grows_the_sample_and_stops_for_the_right_reason(tmp_path, cap, expect_reason):
    """A judge that passes ~60% of responses (midway between the cut-offs): 21 scenarios are inconclusive. Growing the sample adds
    only inputs that have not run (it used to "settle" by counting repeated inputs as new evidence), until the interval clears the
    cut-off, the taxonomy's template draws run out of new inputs, or the projection (settle_at_n) passes --max. With --max 40 it
    stops before growing: at the observed rate settle_at_n is above the cap. Seed 1: its first 21 pass at 57%, projecting ~189."""
    server, _ = serve(0, delay=0.0, pass_rate=0.60)
    try:
        port = server.server_address[1]
        proc = run_cli(["baseline", *server_args(port), "--domain", "support", "-n", "21", "--seed", "1", "--until-decisive", "--max", str(cap), "--out", "run", "--json"], tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    summary = json.loads(proc.stdout)
    growth = summary["growth"]
    assert growth["stop_reason"].startswith(expect_reason), growth["stop_reason"]
    assert len(growth["rounds"]) >= (2 if cap == 400 else 1) and growth["rounds"][0]["scenarios"] == 21
    assert [r["scenarios"] for r in growth["rounds"]] == sorted(r["scenarios"] for r in growth["rounds"])
    assert summary["counts"]["scenarios"] == growth["rounds"][-1]["scenarios"] <= cap
    if not growth["stop_reason"].startswith("stopped: the interval no longer crosses"):  # exhausted, or the projection passed --max
        assert summary["gate"]["inconclusive"] and proc.returncode == 5
    else:
        assert summary["gate"]["band"] == "fine_tune" and proc.returncode == 3
    rows = [json.loads(line) for line in (tmp_path / "run" / "scenarios.jsonl").read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len({r["input"] for r in rows}) == summary["counts"]["scenarios"] == summary["gate"]["scored"]
    assert "How the sample grew" in (tmp_path / "docs" / "base-model-evaluation.md").read_text()
