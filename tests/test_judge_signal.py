"""When the judge says the same thing to every response, the document says so and shows the pass rate
of the deterministic checks alone: a signal that does not depend on the judge."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402


def baseline(tmp_path, pass_rate: float, n: int) -> tuple[dict, str]:
    server, _ = serve(0, delay=0.0, pass_rate=pass_rate)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                       "--domain", "support", "-n", str(n), "--out", "run", "--doc", "eval.md", "--json"],
            cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300,
        )
    finally:
        server.shutdown()
        server.server_close()
    return json.loads(proc.stdout), (tmp_path / "eval.md").read_text()


def test_a_judge_that_always_says_no_is_called_out_and_the_checks_alone_are_reported(tmp_path):
    summary, doc = baseline(tmp_path, pass_rate=0.0, n=21)
    assert summary["gate"]["pass_rate"] == 0.0
    uniform = summary["judge_reliability"]["uniform_criteria"]
    assert uniform and all(u["verdict"] == "no" and u["n"] >= 10 for u in uniform)
    checks = summary["checks_only"]
    # the stub's answers are short, English and ask for no password: every check passes on every response
    assert checks["total"] == 21 and checks["passed"] == 21 and checks["pass_rate"] == 1.0
    assert any("does not tell responses apart" in w and "checks alone pass 21/21" in w for w in summary["warnings"])
    assert "**Deterministic checks alone:** 100.0% (21/21" in doc
    assert "**Same verdict for every response:** CS1 (\"no\" × 21)" in doc


def test_a_judge_that_tells_responses_apart_is_not_flagged(tmp_path):
    summary, doc = baseline(tmp_path, pass_rate=0.5, n=21)
    assert summary["judge_reliability"]["uniform_criteria"] == []
    assert "Same verdict for every response" not in doc
    assert "Deterministic checks alone" in doc  # reported always: it does not depend on the judge


def test_several_judge_samples_sample_at_a_temperature_and_the_manifest_says_which(tmp_path):
    server, stats = serve(0, delay=0.0)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                       "--domain", "support", "-n", "21", "--judge-samples", "3", "--out", "run", "--json"],
            cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode in (0, 3, 4, 5), proc.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["judge_samples"] == 3 and manifest["config"]["judge_temperature"] == 0.7
    assert stats.structured == 63  # three verdicts per response


def test_growing_a_fixed_scenario_file_or_a_stray_max_is_refused_before_any_call(tmp_path):
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text(json.dumps({"input": "My invoice is wrong."}) + "\n")
    closed = "http://127.0.0.1:9/v1"  # nothing may be contacted: the command line is wrong
    common = ["baseline", "--model", "openai/stub", "--base-url", closed, "--judge", "openai/judge", "--judge-base-url", closed, "--domain", "support"]
    for extra, message in [
        (["--scenarios", str(scenarios), "--until-decisive"], "--until-decisive draws new scenarios from the taxonomy"),
        (["--max", "100"], "--max caps --until-decisive, which is not set"),
    ]:
        proc = subprocess.run(BASESEL + common + extra, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr  # a usage error
        assert "cannot reach" not in proc.stderr and not (tmp_path / "runs").exists()
