"""Several servers of one model (--base-url repeated, --endpoints FILE), against real loopback servers:
calls spread over them, a failing server is drained and its calls retried on the others, a server
that recovers is used again, per-endpoint counts land in the summary, and cache keys do not depend
on which server answered."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402

from basesel.errors import ConfigError  # noqa: E402
from basesel.run.endpoints import EndpointSpec, load_endpoints_file  # noqa: E402


class Servers:
    def __init__(self, *plans, delay: float = 0.05):
        self.started = [serve(0, delay=delay, fault=plan) for plan in plans]

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.started[i][0].server_address[1]}/v1"

    def stats(self, i: int):
        return self.started[i][1]

    def close(self) -> None:
        for server, _ in self.started:
            server.shutdown()
            server.server_close()


@pytest.fixture
def servers():
    made: list[Servers] = []

    def make(*plans, delay: float = 0.05) -> Servers:
        made.append(Servers(*plans, delay=delay))
        return made[-1]

    yield make
    for s in made:
        s.close()


def baseline(tmp_path, urls: list[str], n: int, *extra: str, out: str = "run", timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"My order {i} never arrived, what now?"}) + "\n" for i in range(n)))
    flags = [f for u in urls for f in ("--base-url", u)] + [f for u in urls for f in ("--judge-base-url", u)]
    start = time.monotonic()
    proc = subprocess.run(
        BASESEL + ["baseline", "--model", "openai/stub", "--judge", "openai/judge", *flags, "--rubric", "support", "--scenarios", str(scenarios),
                   "--out", out, "--json", *extra],
        cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=timeout,
    )
    return proc, time.monotonic() - start


def by_endpoint(summary: dict) -> dict[str, dict]:
    return {row["endpoint"]: row for row in summary["endpoints"]}


def test_calls_spread_over_the_servers_and_the_cache_ignores_which_one_answered(tmp_path, servers):
    s = servers(None, None)
    n = 24
    proc, _ = baseline(tmp_path, [s.url(0), s.url(1)], n, "--concurrency", "2")
    assert proc.returncode in (0, 5), proc.stderr  # 5: a small sample can be inconclusive
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == n and summary["counts"]["errored"] == 0
    first, second = s.stats(0).chat, s.stats(1).chat
    assert first + second == 2 * n and min(first, second) >= n // 2  # both busy, neither idle
    rows = by_endpoint(summary)
    assert rows[s.url(0)]["ok"] == first and rows[s.url(1)]["ok"] == second
    assert all(r["failed"] == 0 and r["latency_p50_s"] >= 0.04 and r["latency_p95_s"] >= r["latency_p50_s"] for r in rows.values())
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["candidate"]["endpoint"] == s.url(0) and manifest["candidate"]["facts"]["endpoints"] == [s.url(0), s.url(1)]
    assert [e["url"] for e in manifest["config"]["endpoints"]] == [s.url(0), s.url(1)]

    # the first server alone, into a new run directory: every answer, from either server, is a cache hit
    again, _ = baseline(tmp_path, [s.url(0)], n, out="alone")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cache"]["model_calls"] == 0 and s.stats(0).chat + s.stats(1).chat == 2 * n


def test_a_failing_server_is_drained_then_used_again_when_it_recovers(tmp_path, servers):
    # the second server fails its first two calls (500), then answers: drained, probed after 1 s, back in use
    s = servers(None, lambda i: (500, 0.0) if i < 2 else (None, 0.0), delay=0.1)
    n = 40
    proc, _ = baseline(tmp_path, [s.url(0), s.url(1)], n, "--concurrency", "2")
    assert proc.returncode in (0, 5), proc.stderr  # 5: a small sample can be inconclusive
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == n and summary["counts"]["errored"] == 0  # the failures were retried elsewhere
    bad = by_endpoint(summary)[s.url(1)]
    assert bad["failed"] == 2 and bad["drained"] == 1 and bad["recovered"] == 1
    assert bad["ok"] > 0 and bad["ok"] + bad["moved"] == s.stats(1).chat and "500" in bad["last_error"]  # moved: taken back when drained
    assert s.stats(0).chat + s.stats(1).chat == 2 * n + bad["moved"]


def test_calls_held_by_a_drained_server_move_to_another_at_once(tmp_path, servers):
    # The second server takes 4 calls at once: two fail after 0.3 s, two stall for 30 s. Draining it
    # cancels the stalled two and sends them to the first server, so the run does not wait for them.
    def plan(i: int):
        return (500, 0.3) if i < 2 else (None, 30.0) if i < 4 else (None, 0.0)

    s = servers(None, plan)
    endpoints = tmp_path / "endpoints.yaml"
    endpoints.write_text(f"endpoints:\n  - url: {s.url(0)}\n    concurrency: 2\n  - url: {s.url(1)}\n    concurrency: 4\n")
    n = 12
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"Refund {i} is late"}) + "\n" for i in range(n)))
    start = time.monotonic()
    proc = subprocess.run(
        BASESEL + ["baseline", "--model", "openai/stub", "--endpoints", str(endpoints), "--judge", "openai/judge", "--judge-base-url", s.url(0),
                   "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json"],
        cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    took = time.monotonic() - start
    assert proc.returncode in (0, 5), proc.stderr  # 5: a small sample can be inconclusive
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == n and summary["counts"]["errored"] == 0
    bad = by_endpoint(summary)[s.url(1)]
    assert bad["drained"] >= 1 and bad["moved"] >= 2 and bad["failed"] == 2  # the two stalled calls at least
    assert took < 20  # not the 30 s stall


def test_a_server_down_from_the_start_is_drained_and_all_down_is_a_clear_error(tmp_path, servers):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    s = servers(None)
    proc, _ = baseline(tmp_path, [dead, s.url(0)], 6, "--concurrency", "2")
    assert proc.returncode in (0, 5), proc.stderr  # 5: a small sample can be inconclusive
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == 6 and s.stats(0).chat == 12
    assert by_endpoint(summary).get(dead, {"ok": 0})["ok"] == 0

    proc, _ = baseline(tmp_path, [dead, dead.replace("/v1", "/v2")], 2, "--no-cache", out="dead")  # (the cache holds these answers)
    assert proc.returncode == 1 and "cannot reach" in proc.stderr and "Traceback" not in proc.stderr


def test_endpoints_file_errors_are_config_errors(tmp_path):
    good = tmp_path / "ok.yaml"
    good.write_text("- http://127.0.0.1:1/v1\n- url: http://127.0.0.1:2/v1\n  concurrency: 3\n")
    assert load_endpoints_file(good) == [EndpointSpec("http://127.0.0.1:1/v1"), EndpointSpec("http://127.0.0.1:2/v1", 3)]
    for text, message in [("endpoints: []\n", "lists no endpoints"), ("- {concurrency: 2}\n", "has no url"),
                          ("- {url: 'http://127.0.0.1:1/v1', weight: 2}\n", "unknown keys: weight"),
                          ("- {url: 'http://127.0.0.1:1/v1', concurrency: 0}\n", "not a whole number"),
                          ("- 'http://[::1/v1'\n", "invalid base URL")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_endpoints_file(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_endpoints_file(tmp_path / "missing.yaml")


def test_both_a_url_flag_and_an_endpoints_file_is_a_usage_error(tmp_path):
    endpoints = tmp_path / "e.yaml"
    endpoints.write_text("- http://127.0.0.1:1/v1\n")
    proc = subprocess.run(BASESEL + ["baseline", "--model", "openai/x", "--base-url", "http://127.0.0.1:2/v1", "--endpoints", str(endpoints), "--domain", "support"],
                          cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--endpoints" in proc.stderr and "Traceback" not in proc.stderr
