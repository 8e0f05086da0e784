"""Crash-proof resume, as a property: SIGKILL a real `basesel baseline` (or `scenarios --generator`)
at random moments, answers and verdicts in flight, run the same command again, and the result is the
one an uninterrupted run of the same settings gives, with nothing finished lost or done twice and no
torn line left. The kill harness is tests/kill_harness.py."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import BASESEL, REPO, cli_env
from kill_harness import assert_clean_jsonl, assert_kept, assert_one_per_key, complete_records, kill_at, kill_each_time, lines_reached

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402

N = 10
KEY = lambda r: (r["scenario_id"], r["sample"])  # noqa: E731
DECISIONS = (0, 3, 4, 5, 6, 7, 8)  # exit codes that are decisions, not errors (1) or usage (2)
SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_reference: dict[str, Any] = {}


@pytest.fixture(scope="module")
def stub():
    server, stats = serve(0, delay=0.03, pass_rate=0.6)  # a mix of passes and fails, the same for a prompt every time
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", stats
    server.shutdown()
    server.server_close()


def baseline_cmd(url: str, scenarios: Path, out: str) -> list[str]:
    return BASESEL + ["baseline", "--model", "openai/cand", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                      "--rubric", "support", "--scenarios", str(scenarios), "--concurrency", "3", "--out", out, "--doc", f"{out}.md"]


def write_scenarios(folder: Path) -> Path:
    path = folder / "s.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "input": f"My order {i} arrived damaged, box {i * 7} crushed: what now?", "topic": ["orders", "billing"][i % 2]}) + "\n"
                            for i in range(N)))
    return path


def decision_part(summary: dict[str, Any]) -> dict[str, Any]:
    """What an interrupted run must reproduce exactly: the gate, the counts, failures per criterion."""
    return {"gate": summary["gate"], "counts": summary["counts"], "criteria": summary["criteria"], "breakdown": summary["breakdown"]}


def reference_summary(url: str) -> dict[str, Any]:
    if "baseline" not in _reference:
        folder = Path(tempfile.mkdtemp(prefix="basesel-ref-"))
        try:
            proc = subprocess.run(baseline_cmd(url, write_scenarios(folder), "run"), cwd=folder, env=cli_env(folder), capture_output=True, text=True, timeout=180)
            assert proc.returncode in DECISIONS, proc.stderr
            _reference["baseline"] = decision_part(json.loads((folder / "run" / "summary.json").read_text()))
        finally:
            shutil.rmtree(folder)
    return _reference["baseline"]


kill_points = st.lists(st.tuples(st.integers(0, N - 1), st.floats(0, 0.06)), min_size=1, max_size=2)


@pytest.mark.slow
@SETTINGS
@example(kills=[(0, 0.0)])  # at start-up: before the run directory exists, or just after
@example(kills=[(4, 0.0), (7, 0.01)])  # twice, mid-run, answers and verdicts in flight
@given(kills=kill_points)
def test_killed_baseline_resumes_to_the_uninterrupted_result(stub, kills):
    url, stats = stub
    expected = reference_summary(url)
    folder = Path(tempfile.mkdtemp(prefix="basesel-kill-"))
    try:
        scenarios = write_scenarios(folder)
        run = folder / "run"
        cmd = baseline_cmd(url, scenarios, "run")
        env = cli_env(folder)
        snapshots = kill_each_time(cmd, cwd=folder, env=env, counted=run / "assessments.jsonl", kills=kills,
                                   watch=[run / "responses.jsonl", run / "assessments.jsonl"], observe=lambda: stats.active)
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode in DECISIONS, proc.stderr
        for snapshot in snapshots:
            assert_kept(snapshot, run, KEY)
        for name in ("responses.jsonl", "assessments.jsonl"):
            assert_clean_jsonl(run / name)
            assert_one_per_key(run / name, KEY)
            assert len(complete_records(run / name)[0]) == N
        assert decision_part(json.loads((run / "summary.json").read_text())) == expected
    finally:
        shutil.rmtree(folder)


@pytest.mark.slow
def test_a_kill_mid_run_has_answers_and_verdicts_in_flight(stub, tmp_path):
    """The moments the property test kills at are real mid-run moments: the server is answering, the
    run directory holds some answers without their verdicts, and the next run finishes only those."""
    url, stats = stub
    run = tmp_path / "run"
    cmd = baseline_cmd(url, write_scenarios(tmp_path), "run")
    killed = kill_at(cmd, cwd=tmp_path, env=cli_env(tmp_path), when=lines_reached(run / "assessments.jsonl", 3),
                     watch=[run / "responses.jsonl", run / "assessments.jsonl"], observe=lambda: stats.active)
    assert killed.killed and killed.at_kill > 0  # calls were in flight at the server
    answered = {KEY(r) for r in killed.snapshot["responses.jsonl"]}
    judged = {KEY(r) for r in killed.snapshot["assessments.jsonl"]}
    assert judged < answered or len(answered) < N  # the kill left work unfinished
    before = stats.chat
    proc = subprocess.run(cmd, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert proc.returncode in DECISIONS, proc.stderr
    # only what was not finished is called again: answers not on disk, verdicts not on disk (the
    # shared cache may hold a few answers whose record the kill cut off)
    assert stats.chat - before <= (N - len(answered)) + (N - len(judged))
    assert_kept(killed.snapshot, run, KEY)


# --- scenarios --generator -------------------------------------------------------------------------

WORDS = ("refund invoice parcel courier login password reset export backup upgrade downgrade plan coupon receipt address "
         "warranty battery screen update sync calendar contacts invite team seat license trial charge twice missing late "
         "broken damaged wrong size colour email phone verify locked account region tax vat card declined").split()


class GeneratorServer:
    """An OpenAI-compatible generator on 127.0.0.1: for "Write N different messages" it returns N distinct
    messages made from the prompt's hash, the same for the same prompt every time, after `delay` seconds."""

    def __init__(self, delay: float = 0.05):
        self.calls = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self.reply({"object": "list", "data": [{"id": "gen", "object": "model"}]})

            def do_POST(self) -> None:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                prompt = req["messages"][-1]["content"]
                with outer.lock:
                    outer.calls += 1
                time.sleep(delay)
                count = int((re.search(r"Write (\d+) different message", prompt) or re.search(r"(\d+)", "1")).group(1))
                messages = []
                for i in range(count):
                    digest = hashlib.sha256(f"{prompt}|{i}".encode()).digest()
                    words = [WORDS[b % len(WORDS)] for b in digest[:9]]
                    messages.append(f"Hi, {' '.join(words[:4])} problem here: my {words[4]} and {words[5]} went {words[6]} after the {words[7]} {words[8]}, what do I do? (ref {digest[9]:03d}-{digest[10]:03d})")
                content = json.dumps({"messages": messages})
                self.reply({"id": "gen-1", "object": "chat.completion", "model": req.get("model"), "created": 0,
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(content) // 4, "total_tokens": 0}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def generator():
    server = GeneratorServer()
    yield server
    server.close()


def generator_cmd(url: str) -> list[str]:
    return BASESEL + ["scenarios", "--domain", "support", "-n", "24", "--generator", "openai/gen", "--generator-base-url", url,
                      "--batch-size", "3", "--concurrency", "2", "--out", "s.jsonl"]


def cache_entries(folder: Path) -> int:
    return sum(1 for _ in (folder / "cache" / "responses").glob("*/*.json")) if (folder / "cache").is_dir() else 0


def generator_reference(server: GeneratorServer) -> tuple[bytes, dict[str, Any], int]:
    if "scenarios" not in _reference:
        folder = Path(tempfile.mkdtemp(prefix="basesel-ref-"))
        try:
            before = server.calls
            proc = subprocess.run(generator_cmd(server.url), cwd=folder, env=cli_env(folder), capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, proc.stderr
            _reference["scenarios"] = ((folder / "s.jsonl").read_bytes(), coverage_part(folder), server.calls - before)
        finally:
            shutil.rmtree(folder)
    return _reference["scenarios"]


def coverage_part(folder: Path) -> dict[str, Any]:
    report = json.loads((folder / "s.coverage.json").read_text())
    generation = report.pop("generation")
    for key in ("calls", "cache_hits"):  # how the calls split between the server and the cache depends on the kills
        generation.pop(key)
    return report | {"generation": generation}


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@example(kills=[(3, 0.0)])
@given(kills=st.lists(st.tuples(st.integers(0, 7), st.floats(0, 0.08)), min_size=1, max_size=2))
def test_killed_scenario_generation_resumes_to_the_uninterrupted_file(generator, kills):
    expected_file, expected_coverage, expected_calls = generator_reference(generator)
    folder = Path(tempfile.mkdtemp(prefix="basesel-kill-"))
    try:
        cmd, env = generator_cmd(generator.url), cli_env(folder)
        kept = 0
        for entries, wait in kills:
            kill_at(cmd, cwd=folder, env=env, when=lambda: cache_entries(folder) >= entries, then_wait_s=wait)
            now = cache_entries(folder)
            assert now >= kept  # what one killed run finished, the next keeps
            kept = now
        before = generator.calls
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        assert (folder / "s.jsonl").read_bytes() == expected_file
        assert coverage_part(folder) == expected_coverage
        # every generator call finished before the last kill is reused, none is made twice
        assert generator.calls - before == expected_calls - kept
    finally:
        shutil.rmtree(folder)


# -- benchmark ----------------------------------------------------------------------------------------
BENCH_LABELS = ["billing", "shipping", "other"]
BENCH_KEY = lambda r: (r["task"], r["model"], r["condition"], r["item_id"])  # noqa: E731
BENCH_ITEMS = 12  # test items; as many train rows are the 2-shot pool


def bench_cmd(url: str, tickets: Path, out: str) -> list[str]:
    return BASESEL + ["benchmark", "--task-file", str(tickets), "--labels", ",".join(BENCH_LABELS), "--model", "openai/cand", "--base-url", url,
                      "--conditions", "zero-shot,2-shot", "--concurrency", "2", "--resamples", "200", "--out", out, "--json"]


def write_tickets(folder: Path) -> Path:
    path = folder / "tickets.jsonl"
    rows = [{"id": f"t{i}", "input": f"ticket {i}: my problem is about {BENCH_LABELS[i % 3]}, case {i * 31}", "label": BENCH_LABELS[i % 3],
             "split": "test" if i < BENCH_ITEMS else "train"} for i in range(2 * BENCH_ITEMS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def bench_result(summary: dict[str, Any]) -> list[tuple]:
    """What an interrupted benchmark must reproduce exactly: each cell's metric, interval and counts
    (latency and throughput are timings, not results), and the paired comparisons."""
    cells = [(c["task"], c["model"], c["condition"], c["value"], tuple(c["ci95"] or ()), c.get("n"), c.get("invalid_rate")) for c in summary["cells"]]
    pairs = [(p["a"], p["b"], json.dumps({k: v for k, v in p.items() if k not in ("a", "b")}, sort_keys=True)) for p in summary["comparisons"]]
    return sorted(cells) + sorted(pairs)


def bench_reference(url: str) -> list[tuple]:
    if "benchmark" not in _reference:
        folder = Path(tempfile.mkdtemp(prefix="basesel-ref-bench-"))
        try:
            proc = subprocess.run(bench_cmd(url, write_tickets(folder), "run"), cwd=folder, env=cli_env(folder), capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, proc.stderr[-2000:]
            _reference["benchmark"] = bench_result(json.loads((folder / "run" / "summary.json").read_text()))
        finally:
            shutil.rmtree(folder)
    return _reference["benchmark"]


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@example(kills=[(0, 0.0)])  # at start-up
@example(kills=[(5, 0.0), (15, 0.01)])  # twice: mid zero-shot, then mid 2-shot, calls in flight
@given(kills=st.lists(st.tuples(st.integers(0, 2 * BENCH_ITEMS - 1), st.floats(0, 0.06)), min_size=1, max_size=2))
def test_killed_benchmark_resumes_to_the_uninterrupted_result(stub, kills):
    url, _ = stub
    expected = bench_reference(url)
    folder = Path(tempfile.mkdtemp(prefix="basesel-kill-bench-"))
    try:
        tickets = write_tickets(folder)
        run = folder / "run"
        cmd = bench_cmd(url, tickets, "run")
        env = cli_env(folder)
        snapshots = kill_each_time(cmd, cwd=folder, env=env, counted=run / "predictions.jsonl", kills=kills, watch=[run / "predictions.jsonl"])
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for snapshot in snapshots:
            assert_kept(snapshot, run, BENCH_KEY, ignore=("latency_s",))
        assert_clean_jsonl(run / "predictions.jsonl")
        assert_one_per_key(run / "predictions.jsonl", BENCH_KEY)
        assert len(complete_records(run / "predictions.jsonl")[0]) == 2 * BENCH_ITEMS
        assert bench_result(json.loads((run / "summary.json").read_text())) == expected
    finally:
        shutil.rmtree(folder)
