"""A local stand-in for the Hugging Face Hub API and an Ollama server, for `basesel research --online` tests.

Serves, on 127.0.0.1:
  GET  /api/models/<owner>/<name>   model info (recorded-style JSON: downloads, likes, cardData, safetensors, siblings)
  GET  /api/models?search=...       search results
  GET  /api/tags                    Ollama: pulled models
  POST /api/show                    Ollama: model details
Unknown repos answer 404 like the Hub. Every request is logged in `server.requests`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

MODELS: dict[str, dict[str, Any]] = {
    "Qwen/Qwen3-8B": {
        "id": "Qwen/Qwen3-8B",
        "downloads": 2_345_678,
        "likes": 812,
        "lastModified": "2025-07-26T03:50:00.000Z",
        "cardData": {"license": "apache-2.0"},
        "safetensors": {"parameters": {"BF16": 8190735360}, "total": 8190735360},
        "siblings": [{"rfilename": "config.json"}, {"rfilename": "model-00001-of-00005.safetensors"}],
        "tags": ["transformers", "safetensors", "license:apache-2.0"],
        "gated": False,
    },
    "Qwen/Qwen3-8B-GGUF": {
        "id": "Qwen/Qwen3-8B-GGUF",
        "siblings": [{"rfilename": "Qwen3-8B-Q8_0.gguf"}, {"rfilename": "Qwen3-8B-Q4_K_M.gguf"}, {"rfilename": "README.md"}],
    },
    "mistralai/Ministral-3-8B-Instruct-2512": {
        "id": "mistralai/Ministral-3-8B-Instruct-2512",
        "downloads": 45_000,
        "likes": 120,
        "lastModified": "2025-12-10T10:00:00.000Z",
        "cardData": {"license": "apache-2.0"},
        "safetensors": {"parameters": {"BF16": 8400000000}, "total": 8400000000},
        "siblings": [{"rfilename": "config.json"}],
        "tags": ["license:apache-2.0"],
        "gated": False,
    },
    "google/gemma-4-E4B-it": {
        "id": "google/gemma-4-E4B-it",
        "downloads": 900_000,
        "likes": 300,
        "lastModified": "2026-04-20T10:00:00.000Z",
        "cardData": {"license": "gemma"},
        "siblings": [{"rfilename": "config.json"}],
        "tags": ["license:gemma"],
        "gated": "manual",
    },
}

SEARCH: dict[str, list[dict[str, Any]]] = {
    "therapy": [
        {
            "id": "someone/Qwen3-8B-therapist",
            "downloads": 5_400,
            "likes": 21,
            "lastModified": "2026-06-01T00:00:00.000Z",
            "cardData": {"license": "apache-2.0"},
            "safetensors": {"parameters": {"BF16": 8190735360}, "total": 8190735360},
            "tags": ["gguf", "license:apache-2.0", "text-generation"],
        },
        {
            "id": "other/empathy-chat-70b",
            "downloads": 100,
            "likes": 1,
            "lastModified": "2026-01-01T00:00:00.000Z",
            "cardData": {"license": "cc-by-nc-4.0"},
            "safetensors": {"parameters": {"BF16": 70_000_000_000}, "total": 70_000_000_000},
            "tags": ["license:cc-by-nc-4.0"],
        },
        # Already in the catalog: must not come back as a discovery.
        {"id": "Qwen/Qwen3-8B", "downloads": 2_345_678, "tags": []},
    ],
    "Olmo-3-7B-Instruct": [{"id": "bartowski/Olmo-3-7B-Instruct-GGUF", "downloads": 7_000, "tags": ["gguf"]}],
}

OLLAMA_TAGS = {"models": [{"name": "qwen3:8b", "model": "qwen3:8b", "size": 5_200_000_000}, {"name": "unrelated:latest", "model": "unrelated:latest"}]}
OLLAMA_SHOW = {
    "qwen3:8b": {
        "license": "Apache License\nVersion 2.0, January 2004",
        "details": {"family": "qwen3", "parameter_size": "8.2B", "quantization_level": "Q4_K_M", "format": "gguf"},
        "model_info": {"general.architecture": "qwen3", "general.parameter_count": 8190735360, "qwen3.context_length": 40960},
    }
}


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append(f"GET {self.path}")
        url = urlparse(self.path)
        if url.path == "/api/tags":
            return self._send(200, OLLAMA_TAGS)
        if url.path == "/api/models":
            term = parse_qs(url.query).get("search", [""])[0]
            return self._send(200, SEARCH.get(term, []))
        if url.path.startswith("/api/models/"):
            repo = url.path.removeprefix("/api/models/")
            if repo in MODELS:
                return self._send(200, MODELS[repo])
            return self._send(404, {"error": "Repository not found"})
        self._send(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        self.server.requests.append(f"POST {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/api/show" and body.get("model") in OLLAMA_SHOW:
            return self._send(200, OLLAMA_SHOW[body["model"]])
        self._send(404, {"error": "model not found"})


def start() -> FakeServer:
    server = FakeServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
