"""A small OpenAI-compatible chat server on 127.0.0.1 for benchmarks and tests.

It answers every /v1/chat/completions request after a fixed delay. Requests carrying a JSON schema
(structured output) get an object that fills the schema (every criterion 'yes'); other requests get a
short deterministic reply built from the user's message. With a truncate marker, a plain reply to a
user message containing it is cut short and finishes with "length" (the token limit), as a model that
ran out of max_tokens does. GET /stats returns request counts.

    python benchmarks/openai_stub_server.py --port 0 --delay 0.2   # prints "PORT <n>" when ready
    python benchmarks/openai_stub_server.py --truncate-marker LONGREPLY   # replies to "... LONGREPLY ..." are cut off
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


def fill_schema(schema: dict[str, Any], choice: int = 0) -> Any:
    """A value valid for a (simple) JSON schema: enums take value `choice` (0 = the first), strings a short text."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][min(choice, len(schema["enum"]) - 1)]
    if kind == "object":
        return {k: fill_schema(v, choice) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [fill_schema(schema.get("items", {"type": "string"}), choice)]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return "Meets the criterion."


def plain_reply(user: str, reply_words: int = 12) -> str:
    """The reply to a plain (not structured) request: deterministic, so a benchmark can predict it."""
    return "Thanks for reaching out. You can fix this from your settings page, and we will follow up: " + " ".join(user.split()[:reply_words])


def request_key(messages: list[dict[str, Any]], schema: dict[str, Any] | None, seed: Any) -> str:
    """What makes two requests the same call (messages, schema, seed): counted per key, and digested
    over all of a run's keys so two clients can be shown to have made the same calls."""
    return hashlib.sha256((json.dumps(messages, sort_keys=True) + json.dumps(schema, sort_keys=True) + str(seed)).encode()).hexdigest()[:16]


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chat = 0
        self.structured = 0
        self.truncated = 0
        self.by_prompt: dict[str, int] = {}
        # When chat requests arrived and finished, and how many overlapped: the client's request phase.
        self.first_arrival: float | None = None
        self.last_finish: float | None = None
        self.active = 0
        self.max_active = 0
        self.faults_asked = 0  # chat requests the fault plan was asked about
        self.failed = 0  # chat requests answered with the plan's error status

    def begin(self) -> None:
        with self.lock:
            now = time.time()
            self.first_arrival = self.first_arrival or now
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def end(self) -> None:
        with self.lock:
            self.active -= 1
            self.last_finish = time.time()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "chat": self.chat, "structured": self.structured, "truncated": self.truncated, "max_per_prompt": max(self.by_prompt.values(), default=0),
                "distinct_prompts": len(self.by_prompt), "first_arrival": self.first_arrival, "last_finish": self.last_finish,
                "max_active": self.max_active, "failed": self.failed,
                # one digest of every distinct call made: equal digests, equal sets of calls
                "calls_digest": hashlib.sha256("".join(sorted(self.by_prompt)).encode()).hexdigest()[:16],
            }

    def record(self, structured: bool, key: str) -> None:
        with self.lock:
            self.chat += 1
            self.structured += structured
            self.by_prompt[key] = self.by_prompt.get(key, 0) + 1


# A fault plan: chat request number (0-based) -> (HTTP status to fail with or None, extra seconds to wait first).
FaultPlan = Callable[[int], "tuple[int | None, float]"]


def make_handler(delay: float, stats: Stats, reply_words: int, pass_rate: float, truncate_marker: str | None = None, na_where_allowed: bool = True,
                 fault: FaultPlan | None = None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes; with Nagle's algorithm on, the second waits for the
            # client's delayed ACK (~40 ms a request). Real servers (uvicorn, llama.cpp, vLLM) set TCP_NODELAY.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (a killed run): nothing to answer

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "basesel"}]})
            elif self.path == "/stats":
                self._send(200, stats.snapshot())
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            req = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.endswith("/chat/completions"):
                self._send(404, {"error": {"message": "not found"}})
                return
            messages = req.get("messages", [])
            user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
            fmt = req.get("response_format") or {}
            schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
            if fault is not None:
                with stats.lock:
                    number = stats.faults_asked
                    stats.faults_asked += 1
                status, wait = fault(number)
                time.sleep(wait)
                if status is not None:
                    with stats.lock:
                        stats.failed += 1
                    self._send(status, {"error": {"message": f"stub fault {status}", "type": "server_error"}})
                    return
            stats.record(schema is not None, request_key(messages, schema, req.get("seed")))
            stats.begin()
            time.sleep(delay)
            finish_reason = "stop"
            if schema is not None:
                # A judge whose "yes" rate is known: each prompt passes with probability pass_rate (by its hash).
                digest = hashlib.sha256(user.encode()).hexdigest()
                u = int(digest[:8], 16) / 0xFFFFFFFF
                verdicts = fill_schema(schema, 0 if u < pass_rate else 1)
                # Like a real judge, it answers n/a where a criterion allows it and does not apply (about
                # half the responses, by a second hash): not one identical verdict for everything, which
                # basesel marks provisional. n/a is excluded from the score, so the pass rate is unchanged.
                if na_where_allowed and u < pass_rate and int(digest[8:10], 16) % 2:
                    for key, value in verdicts.items() if isinstance(verdicts, dict) else ():
                        enum = schema.get("properties", {}).get(key, {}).get("properties", {}).get("verdict", {}).get("enum", [])
                        if isinstance(value, dict) and "n/a" in enum:
                            value["verdict"] = "n/a"
                            value["reason"] = "Nothing in this message calls for it."
                content = json.dumps(verdicts)
            else:
                content = plain_reply(user, reply_words)
                if truncate_marker and truncate_marker in user:
                    # out of max_tokens mid-sentence: the text stops early and the finish reason says why
                    content, finish_reason = content[: len(content) // 2], "length"
                    with stats.lock:
                        stats.truncated += 1
            self._send(
                200,
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": req.get("model", "stub"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
                    "usage": {"prompt_tokens": len(json.dumps(messages)) // 4, "completion_tokens": len(content) // 4, "total_tokens": 0},
                },
            )
            stats.end()

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when many clients connect at once (64 here)
    request_queue_size = 1024


def serve(
    port: int = 0, delay: float = 0.2, reply_words: int = 12, pass_rate: float = 1.0, truncate_marker: str | None = None,
    na_where_allowed: bool = True,
    fault: FaultPlan | None = None,
) -> tuple[ThreadingHTTPServer, Stats]:
    """Start the server in a daemon thread; returns (server, stats). Call server.shutdown() to stop.

    `truncate_marker`: plain (non-structured) replies to user messages containing it finish with
    "length", cut short, to exercise the truncation path. `na_where_allowed=False`: the judge answers
    one verdict ("yes", or "no" for a failing prompt) to every criterion, n/a never. `fault`: asked for
    each chat request in arrival order, returns (status, wait): wait that long, then fail with that
    status when not None (a failing or stalling server; failed requests are not counted as chat calls)."""
    stats = Stats()
    server = _Server(("127.0.0.1", port), make_handler(delay, stats, reply_words, pass_rate, truncate_marker, na_where_allowed, fault))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--truncate-marker", default=None, help='plain replies to messages containing this text finish with "length"')
    parser.add_argument("--lifetime", type=float, default=600, help="exit after this many seconds (no stray servers)")
    args = parser.parse_args()
    server, _ = serve(args.port, args.delay, truncate_marker=args.truncate_marker)
    print(f"PORT {server.server_address[1]}", flush=True)
    time.sleep(args.lifetime)
    server.shutdown()


if __name__ == "__main__":
    main()
