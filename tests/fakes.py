"""Loopback servers that speak Ollama's, Anthropic's, OpenAI's and the Hugging Face Hub's HTTP APIs, for
tests (127.0.0.1 only).

Replies are functions of the request: a request carrying a JSON schema gets an object filling it
(every verdict 'yes'), others a short text. Faults can be queued: each entry is consumed by one request.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from openai_stub_server import fill_schema  # noqa: E402


class FakeServer:
    """Base: records requests, replays queued faults ('429', '429-wait', '429-bare', '500', '502', '503', 'slow', 'drop',
    'truncate', 'reset', 'stall', 'notjson', 'badjson', and per API 'schema' (a verdict of the wrong shape) and
    'empty' (no choices / no content / no message))."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.times: list[float] = []  # arrival time of each request (time.monotonic)
        self.faults: list[str] = []
        self.targeted: dict[str, list[str]] = {}
        self.auth: list[str | None] = []  # the credential header of each request  # substring of the request body -> faults for matching requests
        self.headers: list[dict[str, str]] = []  # every request's headers, names lower-cased
        self.lock = threading.Lock()
        self.slow_s = 3.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def handle_any(self, method: str) -> None:
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                with outer.lock:
                    outer.requests.append((f"{method} {self.path}", body))
                    outer.times.append(time.monotonic())
                    outer.auth.append(self.headers.get("x-api-key") or self.headers.get("authorization"))
                    outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                    path = self.path.split("?", 1)[0]  # a base URL's ?key=... rides on every request (kept in `requests`)
                    fault = outer.faults.pop(0) if outer.faults and outer.fault_applies(path) else None
                    text = json.dumps(body)
                    for needle, queue in outer.targeted.items():
                        if queue and needle in text and outer.fault_applies(path):
                            fault = queue.pop(0)
                            break
                if fault == "429":
                    return self.send_json(429, {"error": {"type": "rate_limit_error", "message": "slow down"}}, {"Retry-After": "0"})
                if fault == "429-wait":  # Retry-After of a second: the client must wait that long
                    return self.send_json(429, {"error": {"type": "rate_limit_error", "message": "slow down"}}, {"Retry-After": "1"})
                if fault == "truncate":  # headers and half a body, then the connection drops mid-response
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "400")
                    self.end_headers()
                    self.wfile.write(b'{"id": "chatcmpl-1", "choices": [{"index": 0, "mess')
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                if fault == "500":
                    return self.send_json(500, {"error": {"type": "api_error", "message": "boom"}})
                if fault == "400-context":  # this one request is too long for the model
                    return self.send_json(400, {"error": {"type": "invalid_request_error", "code": "context_length_exceeded",
                                                          "message": "This model's maximum context length is 4096 tokens. However, your messages resulted in 9000 tokens."}})
                if fault == "slow":
                    time.sleep(outer.slow_s)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                if fault in ("502", "503"):
                    return self.send_json(int(fault), {"error": {"type": "api_error", "message": "upstream unavailable"}})
                if fault == "429-bare":  # no Retry-After: the client backs off on its own
                    return self.send_json(429, {"error": {"type": "rate_limit_error", "message": "slow down"}})
                if fault in ("reset", "stall"):  # half a body, then a TCP reset / nothing past the read timeout
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "400")
                    self.end_headers()
                    self.wfile.write(b'{"id": "x", "choices": [{"index": 0, "mess')
                    self.wfile.flush()
                    if fault == "stall":
                        time.sleep(outer.slow_s)
                    else:  # SO_LINGER 0: close() sends RST instead of FIN
                        import socket
                        import struct

                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return None
                if fault == "notjson":  # a 200 whose body is not JSON (a proxy's error page, a cut-off buffer)
                    data = b"<html><body>upstream returned garbage</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                self.fault = fault  # 'schema', 'empty': each API's own shape of that fault (see route)
                outer.route(self, method, path, body, bad_json=fault == "badjson")

            def do_GET(self) -> None:
                self.handle_any("GET")

            def do_POST(self) -> None:
                self.handle_any("POST")

            def do_HEAD(self) -> None:
                self.handle_any("HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fault_applies(self, path: str) -> bool:
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for r, _ in self.requests if r.startswith(prefix))

    def route(self, h, method: str, path: str, body: dict[str, Any], bad_json: bool) -> None:
        raise NotImplementedError  # each fake defines its API


def violate_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Valid JSON of the verdict's shape, but every verdict outside the schema's enum (yes / no / n/a)."""
    return {key: {"verdict": "perhaps", "reason": "hard to say"} for key in schema.get("properties", {})}


def reply_text(messages: list[dict[str, Any]]) -> str:
    user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    if isinstance(user, list):
        user = " ".join(part.get("text", "") for part in user if isinstance(part, dict))
    return "Thanks for reaching out. You can fix this from your settings page: " + " ".join(str(user).split()[:8])


class FakeOllama(FakeServer):
    """/api/chat, /api/show, /api/tags, /api/pull. `pulled` holds the models present."""

    def __init__(self, pulled: tuple[str, ...] = ("qwen3:8b",), thinking: bool = False) -> None:
        super().__init__()
        self.pulled = set(pulled)
        self.thinking = thinking
        self.unknown: set[str] = set()  # tags the "registry" does not have: pulling them fails

    def fault_applies(self, path: str) -> bool:
        return path == "/api/chat"

    def route(self, h, method, path, body, bad_json):
        if path == "/api/tags":
            return h.send_json(200, {"models": [{"model": m, "name": m, "digest": f"sha256-{abs(hash(m)) % 10**12:012d}", "size": 5_000_000_000, "details": {"parameter_size": "8.2B", "quantization_level": "Q4_K_M"}} for m in sorted(self.pulled)]})
        if path == "/api/show":
            if body.get("model") not in self.pulled:
                return h.send_json(404, {"error": f"model '{body.get('model')}' not found"})
            return h.send_json(200, {
                "license": "Apache License\nVersion 2.0, January 2004",
                "details": {"family": "qwen3", "parameter_size": "8.2B", "quantization_level": "Q4_K_M"},
                "model_info": {"general.architecture": "qwen3", "general.parameter_count": 8190735360, "qwen3.context_length": 40960},
            })
        if path == "/api/pull":
            model = body.get("model")
            if model in self.unknown:  # Ollama streams the failure as an error line
                lines = [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
            else:
                lines = [{"status": "pulling manifest"}, {"status": "pulling abc", "digest": "sha256:abc", "total": 1000, "completed": 500}, {"status": "pulling abc", "digest": "sha256:abc", "total": 1000, "completed": 1000}, {"status": "success"}]
                self.pulled.add(model)
            data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            h.send_response(200)
            h.send_header("Content-Type", "application/x-ndjson")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return None
        if path == "/api/chat":
            if body.get("model") not in self.pulled:
                return h.send_json(404, {"error": f"model '{body.get('model')}' not found, try pulling it first"})
            fmt = body.get("format")
            if getattr(h, "fault", None) == "empty":  # a reply without a message
                return h.send_json(200, {"model": body["model"], "created_at": "2026-11-22T00:00:00Z", "done": True, "done_reason": "stop"})
            if bad_json:
                content = '{"CS1": {"reason": "cut off'
            elif getattr(h, "fault", None) == "schema" and isinstance(fmt, dict):
                content = json.dumps(violate_schema(fmt))
            elif isinstance(fmt, dict):
                content = json.dumps(fill_schema(fmt))
            else:
                content = reply_text(body.get("messages", []))
            message = {"role": "assistant", "content": content}
            if self.thinking and body.get("think") is not False:
                message["thinking"] = "Let me think about this carefully first."
            opts = body.get("options") or {}
            return h.send_json(200, {"model": body["model"], "created_at": "2026-11-22T00:00:00Z", "message": message, "done": True, "done_reason": "stop", "prompt_eval_count": 42, "eval_count": min(len(content) // 4, opts.get("num_predict", 10**6))})
        return h.send_json(404, {"error": "not found"})


class FakeAnthropic(FakeServer):
    """/v1/messages: tool use when a tool is forced, text otherwise."""

    def fault_applies(self, path: str) -> bool:
        return path.startswith("/v1/messages")

    def __init__(self, api_key: str | None = None, thinking: bool = False) -> None:
        super().__init__()
        self.api_key = api_key  # when set, other keys get 401 like the real API
        self.thinking = thinking  # answer with a thinking block when the request enables thinking

    def route(self, h, method, path, body, bad_json):
        if self.api_key is not None and h.headers.get("x-api-key") != self.api_key and h.headers.get("authorization") != f"Bearer {self.api_key}":
            return h.send_json(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        if method == "GET" and path.startswith("/v1/models"):
            return h.send_json(200, {"data": [{"type": "model", "id": "claude-test", "display_name": "Claude Test", "created_at": "2026-01-01T00:00:00Z"}],
                                     "has_more": False, "first_id": "claude-test", "last_id": "claude-test"})
        if not path.startswith("/v1/messages"):
            return h.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})
        tools = body.get("tools") or []
        usage = {"input_tokens": 50, "output_tokens": 20}
        if getattr(h, "fault", None) == "empty":
            return h.send_json(200, {"id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"), "content": [],
                                     "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 50, "output_tokens": 0}})
        if tools:
            schema = tools[0]["input_schema"]
            value = {"CS1": {"reason": "cut"}} if bad_json else fill_schema(schema)
            if getattr(h, "fault", None) == "schema":
                value = violate_schema(schema)
            content = [{"type": "tool_use", "id": "toolu_1", "name": tools[0]["name"], "input": value}]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": reply_text(body.get("messages", []))}]
            stop = "end_turn"
            if self.thinking and (body.get("thinking") or {}).get("type") == "enabled":
                content.insert(0, {"type": "thinking", "thinking": "The user was billed twice; check the invoice first. " * 4, "signature": "sig"})
                usage["output_tokens"] += 60
        return h.send_json(200, {"id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"), "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage})


class FakeOpenAI(FakeServer):
    """/v1/chat/completions and /v1/models, with fault injection on chat calls."""

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key  # when set, other keys get 401 like the real API
        self.models_delay_s = 0.0

    def fault_applies(self, path: str) -> bool:
        return path.endswith("/chat/completions")

    def route(self, h, method, path, body, bad_json):
        if self.api_key is not None and h.headers.get("authorization") != f"Bearer {self.api_key}":
            return h.send_json(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}})
        if path.rstrip("/").endswith("/models"):
            time.sleep(self.models_delay_s)  # llama.cpp's server answers only between generations
            return h.send_json(200, {"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "tests"}]})
        if not path.endswith("/chat/completions"):
            return h.send_json(404, {"error": {"message": "not found"}})
        if body.get("model") == "missing":
            return h.send_json(404, {"error": {"message": "The model `missing` does not exist.", "type": "invalid_request_error"}})
        reasoner = body.get("model") == "reasoner"  # like OpenAI's o-series: no max_tokens, temperature 1 only
        if reasoner and "max_tokens" in body:
            return h.send_json(400, {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                                               "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}})
        if reasoner and body.get("temperature", 1) != 1:
            return h.send_json(400, {"error": {"message": f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. Only the default (1) value is supported.",
                                               "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}})
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
        if getattr(h, "fault", None) == "empty":
            return h.send_json(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"), "choices": [],
                                     "usage": {"prompt_tokens": 30, "completion_tokens": 0, "total_tokens": 30}})
        if bad_json:
            content = '{"CS1": {"reason": "truncated'
        elif getattr(h, "fault", None) == "schema" and schema is not None:
            content = json.dumps(violate_schema(schema))
        elif schema is not None:
            content = json.dumps(fill_schema(schema))
        else:
            content = reply_text(body.get("messages", []))
        return h.send_json(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                 # vLLM's reasoning parser: the thinking apart, not counted in usage
                                                 **({"reasoning_content": "Let me think about the order status. " * 4} if body.get("model") == "vllm-thinker" else {})},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
                      **({"completion_tokens_details": {"reasoning_tokens": 8}} if reasoner else {})},
        })


class FakeHFHub(FakeServer):
    """Enough of the Hugging Face Hub for `hf_hub_download` (HF_ENDPOINT=<url>): HEAD/GET
    /<owner>/<repo>/resolve/<revision>/<file> for the files in `files` (name -> local path); others 404."""

    def __init__(self, files: dict[str, Path]) -> None:
        import hashlib

        super().__init__()
        self.files = {}
        for name, path in files.items():
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            self.files[name] = (Path(path), digest.hexdigest())

    def route(self, h, method, path, body, bad_json):
        parts = path.split("?")[0].split("/")
        if len(parts) >= 6 and parts[3] == "resolve" and parts[5] in self.files:
            file, sha = self.files[parts[5]]
            size = file.stat().st_size
            h.send_response(200)
            for k, v in {"Content-Length": str(size), "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(size), "X-Repo-Commit": "0" * 40}.items():
                h.send_header(k, v)
            h.end_headers()
            if method == "GET":
                with open(file, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.wfile.write(chunk)
            return None
        return h.send_json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
