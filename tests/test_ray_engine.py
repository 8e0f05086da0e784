"""The Ray Data LLM engine (--engine ray, ray/ specs) for real: a local Ray instance (small num_cpus,
started by basesel and stopped at the end of the run) runs Ray's HTTP request processor against a
loopback OpenAI-compatible server; the answers land in the same run directory, cache and resume.
The vLLM processor path is exercised up to its GPU check (this machine has none)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil
import pytest

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402

from basesel.cli.baseline import _engine_spec, _with_ray  # noqa: E402
from basesel.errors import UsageError  # noqa: E402

RAY_OPTIONS = ["-o", "ray_num_cpus=2", "-o", "batch_window_s=0.3", "-o", "ray_concurrency=1", "-o", "batch_size=8"]


def ray_processes() -> set[int]:
    """Ray's own processes on this machine (gcs_server, raylet, workers), by pid."""
    found = set()
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if any(part in cmd for part in ("gcs_server", "raylet", "ray::", "default_worker.py", "dashboard/agent.py", "log_monitor.py")):
            found.add(p.info["pid"])
    return found


@pytest.fixture
def stub():
    server, stats = serve(0, delay=0.05)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", stats
    server.shutdown()
    server.server_close()


def run(tmp_path, *args, timeout=240):
    return subprocess.run(BASESEL + ["baseline", *args], cwd=tmp_path, env=cli_env(tmp_path, RAY_USAGE_STATS_ENABLED="0"), capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_ray_http_processor_runs_the_candidate_into_the_run_directory_cache_and_resume(tmp_path, stub):
    url, stats = stub
    before = ray_processes()
    n = 8
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"Where is parcel {i}? It is late."}) + "\n" for i in range(n)))
    common = ["--model", "openai/stub", "--base-url", url, "--engine", "ray", "--judge", "openai/judge", "--judge-base-url", url,
              "--rubric", "support", "--scenarios", str(scenarios), "--json", *RAY_OPTIONS]
    proc = run(tmp_path, *common, "--out", "run")
    assert proc.returncode in (0, 5), proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"]["scored"] == n and summary["counts"]["errored"] == 0
    assert stats.chat == 2 * n and stats.structured == n  # n answers through Ray, n verdicts through the executor
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["candidate"]["provider"] == "ray" and manifest["candidate"]["facts"]["processor"] == "http"
    answers = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
    assert len(answers) == n and all(a["answer"].startswith("Thanks for reaching out") and a["usage"]["completion_tokens"] > 0 for a in answers)

    # the same command again: resumed from the run directory, no call; a new --out: the cache answers
    again = run(tmp_path, *common, "--out", "run")
    assert again.returncode in (0, 5) and json.loads(again.stdout)["cache"]["model_calls"] == 0
    start = time.monotonic()
    fresh = run(tmp_path, *common, "--out", "fresh")
    assert fresh.returncode in (0, 5) and json.loads(fresh.stdout)["cache"]["model_calls"] == 0 and stats.chat == 2 * n
    assert time.monotonic() - start < 30  # Ray is never started for a run the cache answers

    deadline = time.monotonic() + 30  # the local instance basesel started is gone with its run
    while ray_processes() - before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not (ray_processes() - before)


@pytest.mark.slow
def test_vllm_processor_for_local_weights_stops_at_the_gpu_check(tmp_path, stub):
    url, _ = stub
    before = ray_processes()
    proc = run(tmp_path, "--model", "vllm/Qwen/Qwen2.5-0.5B-Instruct", "--engine", "ray", "--judge", "openai/judge", "--judge-base-url", url,
               "--domain", "support", "-n", "21", "--out", "run", *RAY_OPTIONS)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "has 0 GPUs" in proc.stderr and "--ray-address" in proc.stderr
    deadline = time.monotonic() + 30
    while ray_processes() - before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not (ray_processes() - before)


def test_engine_ray_maps_specs_and_refuses_the_others():
    assert _engine_spec("vllm/Qwen/Qwen2.5-7B-Instruct", None, "ray") == "ray/Qwen/Qwen2.5-7B-Instruct"
    assert _engine_spec("openai/stub", "http://127.0.0.1:1/v1", "ray") == "ray/stub"
    assert _engine_spec("ray/x", None, "ray") == "ray/x" and _engine_spec("qwen3:8b", None, "default") == "qwen3:8b"
    for spec, base in (("qwen3:8b", None), ("embedded", None), ("openai/gpt-4o-mini", None)):
        with pytest.raises(UsageError, match="--engine ray runs"):
            _engine_spec(spec, base, "ray")
    with pytest.raises(UsageError, match="unknown --engine"):
        _engine_spec("vllm/x", None, "spark")
    assert _with_ray({}, "ray/x", "head:6379") == {"ray_address": "head:6379"} and _with_ray({}, "openai/x", "head:6379") == {}
