"""`basesel baseline --retry-errors RUN_DIR`: base URLs given with it replace the run's, and a URL whose
credentials were removed before the manifest was written must be passed again (never called without them)."""

from __future__ import annotations

import base64
import json
import subprocess

from conftest import BASESEL, cli_env
from fakes import FakeOpenAI

PASSWORD = "RETRYPASS-s3cret-97531"
QUERY_KEY = "RETRYKEY-s3cret-86420"


def secured(url: str, who: str) -> str:
    return url.replace("http://", f"http://{who}:{PASSWORD}@") + f"/v1?key={QUERY_KEY}"


def _scenarios(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "input": f"Order {i} never arrived"}) + "\n" for i in range(2)))
    return path


def _baseline(tmp_path, *args):
    return subprocess.run(BASESEL + ["baseline", *args], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)


def _chat(server: FakeOpenAI, start: int = 0) -> list[int]:
    return [i for i, (r, _) in enumerate(server.requests) if i >= start and r.startswith("POST") and "/chat/completions" in r]


def test_retry_asks_again_for_urls_whose_credentials_were_not_written_and_uses_them(tmp_path):
    scenarios = _scenarios(tmp_path)
    with FakeOpenAI() as server:
        server.targeted = {"Order 1 never": ["400-context"]}  # q1's answer is refused once: an errored sample
        urls = ["--base-url", secured(server.url, "cand"), "--judge-base-url", secured(server.url, "judge")]
        first = _baseline(tmp_path, "--model", "openai/cand", "--judge", "openai/judge", *urls,
                          "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json")
        assert first.returncode not in (1, 2), first.stderr
        assert json.loads(first.stdout)["counts"]["errored"] == 1
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
        assert manifest["url_credentials_removed"] == ["base_url", "judge_base_url"]
        assert manifest["config"]["base_url"] == f"{server.url}/v1"  # redacted on disk
        seen = len(server.requests)

        refused = _baseline(tmp_path, "--retry-errors", "run")
        assert refused.returncode == 1, refused.stderr
        message = " ".join(refused.stderr.split())
        assert "--base-url (or --endpoints) and --judge-base-url (or --judge-endpoints) with credentials" in message, message
        assert f"Pass the same servers again with their credentials put back in: basesel baseline --retry-errors run --base-url '{server.url}/v1' --judge-base-url '{server.url}/v1'" in message
        assert "Traceback" not in refused.stderr
        half = _baseline(tmp_path, "--retry-errors", "run", "--base-url", secured(server.url, "cand"))
        assert half.returncode == 1 and "used --judge-base-url (or --judge-endpoints) with credentials" in " ".join(half.stderr.split()), half.stderr
        assert len(server.requests) == seen  # nothing was called without the credentials

        again = _baseline(tmp_path, "--retry-errors", "run", *urls, "--json")
        assert again.returncode not in (1, 2), again.stderr
        assert json.loads(again.stdout)["counts"]["errored"] == 0
        retried = _chat(server, seen)
        assert retried, server.requests[seen:]
        assert all(f"key={QUERY_KEY}" in server.requests[i][0] for i in retried)  # the query key travelled again
        basic = {"Basic " + base64.b64encode(f"{who}:{PASSWORD}".encode()).decode() for who in ("cand", "judge")}
        assert {server.auth[i] for i in retried} <= basic and server.auth[retried[0]] in basic
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "replace")
        assert PASSWORD not in text and QUERY_KEY not in text, path
    for proc in (first, refused, half, again):
        assert PASSWORD not in proc.stdout + proc.stderr and QUERY_KEY not in proc.stdout + proc.stderr


def test_base_urls_given_with_retry_errors_replace_the_runs(tmp_path):
    scenarios = _scenarios(tmp_path)
    with FakeOpenAI() as old, FakeOpenAI() as new:
        old.targeted = {"Order 1 never": ["400-context"] * 4}  # the old server keeps refusing q1
        first = _baseline(tmp_path, "--model", "openai/cand", "--judge", "openai/judge", "--base-url", f"{old.url}/v1", "--judge-base-url", f"{old.url}/v1",
                          "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json")
        assert first.returncode not in (1, 2), first.stderr
        assert json.loads(first.stdout)["counts"]["errored"] == 1
        before = len(old.requests)
        again = _baseline(tmp_path, "--retry-errors", "run", "--base-url", f"{new.url}/v1", "--json")
        assert again.returncode not in (1, 2), again.stderr
        assert json.loads(again.stdout)["counts"]["errored"] == 0
        answered = [body for r, body in new.requests if r.startswith("POST")]
        assert answered and all(b["model"] == "cand" for b in answered)  # the candidate's retry went to --base-url
        assert "Order 1 never" in json.dumps(answered)
        assert not [r for r, b in old.requests[before:] if r.startswith("POST") and b.get("model") == "cand"]
        assert [r for r, b in old.requests[before:] if r.startswith("POST") and b.get("model") == "judge"]  # the judge stayed
        assert f"replaces the run's {old.url}/v1" in " ".join(again.stderr.split())
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["base_url"] == f"{new.url}/v1"


def test_a_pool_of_servers_with_credentials_is_asked_for_again_then_used(tmp_path):
    scenarios = _scenarios(tmp_path)
    with FakeOpenAI() as a, FakeOpenAI() as b, FakeOpenAI() as judge:
        for server in (a, b):
            server.targeted = {"Order 1 never": ["400-context"]}
        pool = ["--base-url", secured(a.url, "cand"), "--base-url", secured(b.url, "cand")]
        first = _baseline(tmp_path, "--model", "openai/cand", "--judge", "openai/judge", *pool, "--judge-base-url", f"{judge.url}/v1",
                          "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json")
        assert first.returncode not in (1, 2), first.stderr
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
        assert manifest["url_credentials_removed"] == ["base_url", "endpoints"]
        assert [e["url"] for e in manifest["config"]["endpoints"]] == [f"{a.url}/v1", f"{b.url}/v1"]
        refused = _baseline(tmp_path, "--retry-errors", "run")
        message = " ".join(refused.stderr.split())
        assert refused.returncode == 1 and f"--base-url '{a.url}/v1' --base-url '{b.url}/v1'" in message, message
        assert "judge" not in message.split("with credentials")[0]  # the judge's URL had none: it is reused as recorded
        seen = len(a.requests) + len(b.requests)
        again = _baseline(tmp_path, "--retry-errors", "run", *pool, "--json")
        assert again.returncode not in (1, 2), again.stderr
        retried = [r for server in (a, b) for r, _ in server.requests if r.startswith("POST")]
        assert len(a.requests) + len(b.requests) > seen and all(f"key={QUERY_KEY}" in r for r in retried)
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert PASSWORD not in path.read_bytes().decode("utf-8", "replace"), path
