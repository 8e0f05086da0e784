"""`basesel research` and the decision document with broken surroundings: a server that is not quite
Ollama, unusable URLs and output directories, empty option values, a foreign research.json."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from basesel.errors import ConfigError
from basesel.report.render import load_research
from basesel.research.catalog import load_catalog
from basesel.research.enrich import OnlineReport, ollama_enrich, ollama_url
from basesel.research.scoring import Candidate
from conftest import BASESEL, cli_env


def serve(tags_body: bytes, show_body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _raw(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            self._raw(tags_body)

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._raw(show_body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def catalog_candidates() -> list[Candidate]:
    return [Candidate.from_entry(e) for e in load_catalog().models]


@pytest.mark.parametrize(
    "tags, show",
    [
        (b'{"models": ["qwen3:8b"]}', b"{}"),  # a list of strings, not of objects
        (b'["qwen3:8b"]', b"{}"),  # not an object at all
        (b'{"models": [{"name": "qwen3:8b"}]}', b"[]"),  # show answers a list
        (b'{"models": [{"name": "qwen3:8b"}]}', b'{"details": "x", "model_info": 3}'),  # wrong field types
        (b"not json", b"{}"),
    ],
)
def test_a_server_that_is_not_quite_ollama_is_a_note_never_a_crash(tags, show):
    server = serve(tags, show)
    try:
        report = OnlineReport()
        cands = catalog_candidates()
        ollama_enrich(cands, report, url=f"http://127.0.0.1:{server.server_address[1]}", timeout=2)
    finally:
        server.shutdown()
        server.server_close()
    status = report.status["ollama"]
    assert status.startswith(("skipped", "ok")), status
    assert all(c.local is None or isinstance(c.local, dict) for c in cands)


def test_a_server_that_does_not_speak_http_is_a_note():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def garbage() -> None:
            conn, _ = listener.accept()
            conn.recv(1024)
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.close()

        threading.Thread(target=garbage, daemon=True).start()
        report = OnlineReport()
        ollama_enrich(catalog_candidates(), report, url=f"http://127.0.0.1:{port}", timeout=2)
    assert report.status["ollama"].startswith("skipped: no Ollama server answered")


def test_unusable_ollama_urls_are_named(monkeypatch):
    for bad in ("http://127.0.0.1:99999", "http://[::1", "127.0.0.1:abc"):
        with pytest.raises(ValueError, match="not a usable Ollama URL"):
            ollama_url(bad)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:99999")
    report = OnlineReport()
    ollama_enrich([], report)  # a bad OLLAMA_HOST: a note, not a crash
    assert "not a usable Ollama URL" in report.status["ollama"]
    assert ollama_url("http://[::1]:11500") == "http://[::1]:11500"


def research_cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(BASESEL + ["research", *args], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", ""], "--size was given an empty value"),
        (["--explain", " "], "--explain was given an empty value"),
        (["--online", "--ollama-url", "http://127.0.0.1:99999"], "not a usable Ollama URL"),
        (["--out-dir", "afile/sub"], "cannot write research.json / research.md into afile/sub"),
    ],
)
def test_bad_research_input_is_a_clear_error(tmp_path, args, message):
    (tmp_path / "afile").write_text("a file, not a directory")
    proc = research_cli(tmp_path, "--domain", "support", *args)
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert not (tmp_path / "research.json").exists()


def test_a_foreign_research_json_is_refused_with_what_is_wrong(tmp_path):
    path = tmp_path / "research.json"
    for body, problem in [
        ([1, 2], "the top level is list"),
        ({"candidates": []}, "no 'primary' pick"),
        ({"candidates": [{"model": "x"}], "primary": None, "backup": None}, "candidate 1 lacks params"),
        ({"candidates": [], "primary": {"model": "x"}, "backup": None}, "the primary pick lacks rationale"),
    ]:
        path.write_text(json.dumps(body))
        with pytest.raises(ConfigError, match="not a research.json written by `basesel research`") as err:
            load_research(path)
        assert problem in str(err.value)


def test_research_output_loads_back(tmp_path):
    proc = research_cli(tmp_path, "--domain", "support", "--size", "1-10B")
    assert proc.returncode == 0, proc.stderr
    data = load_research(tmp_path / "research.json")
    assert data["candidates"] and data["primary"]["model"]
