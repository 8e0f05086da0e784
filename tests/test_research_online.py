"""`basesel research --online`: Hugging Face + Ollama enrichment against a local fake server, ddgs web
search with a fake client, and every failure mode falling back to the catalog with a note. No internet."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys

import pytest

import research_fake_hub
from basesel.research import Query, find_candidate, run_research
from basesel.research.enrich import OnlineReport, hf_resolve_files, ollama_url, pick_gguf, web_queries
from basesel.research.output import to_json, to_markdown
from basesel.research.scoring import Candidate, pull_command
from conftest import BASESEL, cli_env

TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def hub():
    server = research_fake_hub.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def online_ok(monkeypatch):
    """Let huggingface_hub make requests (conftest sets HF_HUB_OFFLINE=1 for every test)."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)


class FailingDDGS:
    calls = 0

    def __init__(self, *args, **kwargs):
        pass

    def text(self, query, **kwargs):
        from ddgs.exceptions import DDGSException

        FailingDDGS.calls += 1
        raise DDGSException("ConnectError: error sending request (network is unreachable)")


class FakeDDGS:
    queries: list[tuple[str, int]] = []

    def __init__(self, *args, **kwargs):
        pass

    def text(self, query, max_results=10, **kwargs):
        FakeDDGS.queries.append((query, max_results))
        slug = query.replace(" ", "-").lower()
        return [
            {"title": f"Result for {query}", "href": f"https://example.org/{slug}", "body": "..."},
            {"title": "Shared page", "href": "https://example.org/shared", "body": "..."},
        ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def go(hub_url: str, ollama: str | None = None, **query) -> object:
    query.setdefault("domain", "therapeutic")
    return run_research(Query(online=True, **query), today=TODAY, hf_endpoint=hub_url, ollama_url=ollama or hub_url, hf_timeout=3)


def test_hf_and_ollama_enrichment_from_a_local_server(hub, online_ok, monkeypatch):
    monkeypatch.setattr("ddgs.DDGS", FailingDDGS)
    r = go(hub.url, min_params_b=7, max_params_b=10)
    status = r.online.status
    assert status["huggingface"].startswith("ok") and status["ollama"].startswith("ok")
    qwen = find_candidate(r, "qwen3-8b")
    assert qwen.cand.live["downloads"] == 2_345_678 and qwen.cand.live["likes"] == 812
    assert qwen.cand.live["license_id"] == "Apache-2.0" and qwen.cand.live["parameters"] == 8190735360
    assert qwen.cand.live["last_modified"] == "2025-07-26"
    assert "2.3M downloads" in qwen.factor("community").reason and qwen.factor("community").points == 10
    # already pulled in the local Ollama: show data kept, and it counts for the quantization factor
    assert qwen.cand.local["quantization"] == "Q4_K_M" and qwen.cand.local["context_length"] == 40960
    assert "already pulled" in qwen.factor("quantization").reason
    assert "POST /api/show" in hub.requests and "GET /api/tags" in hub.requests
    # models the server does not know are reported, not fatal
    assert any("not found" in n for n in find_candidate(r, "llama-3.1-8b-instruct").cand.online_notes)
    # GGUF availability unknown in the catalog -> looked up on the Hub
    olmo = find_candidate(r, "olmo-3-7b-instruct")
    assert olmo.cand.gguf == "community" and olmo.cand.gguf_repo == "bartowski/Olmo-3-7B-Instruct-GGUF"
    data = to_json(r)
    row = next(c for c in data["candidates"] if c["id"] == "qwen3-8b")
    assert row["live"]["downloads"] == 2_345_678 and row["local"]["tag"] == "qwen3:8b"
    assert "## Online enrichment" in to_markdown(data)


def test_live_licence_mismatch_becomes_a_concern(hub, online_ok, monkeypatch):
    monkeypatch.setattr("ddgs.DDGS", FailingDDGS)
    r = go(hub.url, domain="coding", min_params_b=4, max_params_b=5)
    gemma = find_candidate(r, "gemma-4-e4b-it")
    assert gemma.cand.live["license_id"] == "gemma" and gemma.cand.gated is True
    from basesel.research.scoring import concerns

    found = concerns(gemma, r.query, r.domain_name, r.catalog)
    assert any("Hugging Face lists the licence as gemma" in c for c in found)
    assert any("gated" in c for c in found)


def test_search_hits_beyond_the_catalog_are_listed_but_never_picked(hub, online_ok, monkeypatch):
    monkeypatch.setattr("ddgs.DDGS", FailingDDGS)
    r = go(hub.url, min_params_b=7, max_params_b=10, search=["therapy"])
    found = [s for s in r.all_scored if s.cand.source == "hf-search"]
    assert sorted(s.cand.hf_repo for s in found) == ["other/empathy-chat-70b", "someone/Qwen3-8B-therapist"]  # Qwen/Qwen3-8B is in the catalog
    therapist = next(s for s in found if s.cand.hf_repo == "someone/Qwen3-8B-therapist")
    assert not therapist.excluded and therapist.cand.params_b == pytest.approx(8.19, abs=0.01)
    assert therapist.cand.license == "Apache-2.0" and therapist.cand.gguf == "community"
    assert therapist.status == "rejected" and "not vetted" in therapist.why
    big = next(s for s in found if s.cand.hf_repo == "other/empathy-chat-70b")
    assert any("above the 10B maximum" in x for x in big.exclusions)
    assert r.outcome.primary.cand.source == "catalog" and r.outcome.backup.cand.source == "catalog"
    data = to_json(r)
    assert any(c["model"] == "someone/Qwen3-8B-therapist" and c["source"] == "hf-search" for c in data["candidates"])
    assert data["counts"]["discovered"] == 2


def test_pull_command_uses_a_real_gguf_file_when_no_ollama_tag(hub, online_ok):
    c = Candidate(id="x", family="Qwen3", model="Qwen3-8B", params="8.2B", params_b=8.2, focus="hybrid", gguf="official", gguf_repo="Qwen/Qwen3-8B-GGUF")
    assert pull_command(c) is None
    from huggingface_hub import HfApi

    hf_resolve_files(HfApi(endpoint=hub.url), [c], OnlineReport())
    assert c.gguf_file == "Qwen3-8B-Q4_K_M.gguf"
    assert pull_command(c) == "basesel pull hf/Qwen/Qwen3-8B-GGUF --file Qwen3-8B-Q4_K_M.gguf"
    assert pick_gguf(["a-Q8_0.gguf", "mmproj-f16.gguf", "a-q4_k_m-00001-of-00002.gguf", "a-Q4_0.gguf"]) == "a-Q4_0.gguf"


def test_unreachable_network_is_a_note_and_the_catalog_result_stands(online_ok, monkeypatch):
    monkeypatch.setattr("ddgs.DDGS", FailingDDGS)
    FailingDDGS.calls = 0
    dead = f"http://127.0.0.1:{free_port()}"
    offline = run_research(Query(domain="math", min_params_b=3, max_params_b=9), today=TODAY)
    r = run_research(Query(domain="math", min_params_b=3, max_params_b=9, online=True, search=["math tutor"]), today=TODAY, hf_endpoint=dead, ollama_url=dead, hf_timeout=2)
    assert r.online.status["huggingface"].startswith("failed: Hugging Face unreachable")
    assert r.online.status["ollama"].startswith("skipped: no Ollama server answered")
    assert r.online.status["web"].startswith("failed: web search unavailable")
    assert FailingDDGS.calls == 1  # the first failure stops the remaining queries
    assert "--search skipped" in " ".join(r.online.notes)
    assert any("huggingface failed" in w for w in r.warnings) and any("web failed" in w for w in r.warnings)
    assert [s.cand.id for s in r.outcome.ranked] == [s.cand.id for s in offline.outcome.ranked]
    assert [s.total for s in r.outcome.ranked] == [s.total for s in offline.outcome.ranked]
    assert to_json(r)["sources"] == []


def test_hf_offline_mode_and_missing_packages_are_notes(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setitem(sys.modules, "ddgs", None)  # not installed
    dead = f"http://127.0.0.1:{free_port()}"
    r = run_research(Query(domain="coding", online=True), today=TODAY, ollama_url=dead)
    assert "HF_HUB_OFFLINE" in r.online.status["huggingface"]
    assert "ddgs package is not installed" in r.online.status["web"]
    assert r.outcome.primary is not None


def test_web_search_uses_the_method_query_patterns_and_keeps_sources(tmp_path, hub, online_ok, monkeypatch):
    FakeDDGS.queries = []
    monkeypatch.setattr("ddgs.DDGS", FakeDDGS)
    r = go(hub.url, min_params_b=7, max_params_b=10)
    asked = [q for q, _ in FakeDDGS.queries]
    assert asked[0] == "best 7B-10B parameter LLM 2026 therapeutic dialogue"
    assert any(" vs " in q and q.endswith("comparison 2026") for q in asked)
    assert "open source LLM therapeutic dialogue fine-tuned 2026" in asked and "best LLM for empathy 2026" in asked
    assert all(n == 5 for _, n in FakeDDGS.queries)
    data = to_json(r)
    urls = [s["url"] for s in data["sources"]]
    assert len(urls) == len(set(urls)) == len(asked) + 1  # one per query + the shared page once
    assert all(set(s) >= {"title", "url"} for s in data["sources"])
    md = to_markdown(data)
    assert "## Sources" in md and "[Shared page](https://example.org/shared)" in md
    assert web_queries(None, "", "instruction following", [], 2026) == ["best small parameter LLM 2026", "best LLM for instruction following 2026"]


def test_ollama_url_normalisation(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert ollama_url() == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    assert ollama_url() == "http://127.0.0.1:11500"
    assert ollama_url("https://gpu-box:8080/") == "https://gpu-box:8080"


def test_cli_online_end_to_end_against_the_local_server(tmp_path, hub):
    env = cli_env(tmp_path, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", DDGS_PROXY=f"http://127.0.0.1:{free_port()}", COLUMNS="160")
    proc = subprocess.run(
        BASESEL + ["research", "-d", "therapeutic", "--size", "7-10B", "--online", "--search", "therapy", "--ollama-url", hub.url],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "web failed" in proc.stderr and "Traceback" not in proc.stderr
    data = json.loads((tmp_path / "research.json").read_text())
    assert data["online"]["status"]["huggingface"].startswith("ok")
    assert data["query"]["online"] is True and data["query"]["search"] == ["therapy"]
    assert any(c.get("live", {}).get("downloads") == 2_345_678 for c in data["candidates"])
    assert any(r.startswith("GET /api/models/Qwen/Qwen3-8B") for r in hub.requests)


def test_topic_fills_the_web_queries_for_a_custom_domain(hub, online_ok, monkeypatch):
    FakeDDGS.queries = []
    monkeypatch.setattr("ddgs.DDGS", FakeDDGS)
    r = run_research(Query(domain="custom", topic="legal contract review", min_params_b=7, max_params_b=10, online=True), today=TODAY, hf_endpoint=hub.url, ollama_url=hub.url, hf_timeout=3)
    asked = [q for q, _ in FakeDDGS.queries]
    assert asked[0] == "best 7B-10B parameter LLM 2026 legal contract review"
    assert "open source LLM legal contract review fine-tuned 2026" in asked
    assert to_json(r)["query"]["topic"] == "legal contract review"
