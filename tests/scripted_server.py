"""An OpenAI-compatible server on 127.0.0.1 whose candidate and judge replies are Python functions,
for reproducing what a user saw (issue 11): a judge that copies the criteria back, a candidate that
ignores distress, a judge whose replies cannot be read until it is "fixed".

    with ScriptedServer(candidate=lambda user: "...", judge=lambda user, criteria: {...}) as server:
        server.url  # http://127.0.0.1:PORT/v1

`judge(user_message, criteria)` gets the scenario's user message (from the judge prompt) and
{criterion id: statement}; it returns a dict {id: {"reason", "verdict"}} (sent as JSON) or a str
(sent as is: e.g. broken JSON).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

_CRITERION = re.compile(r"^- (?P<id>[A-Za-z][\w.-]*) \((?P<name>[^)]*)\)(?: \(n/a allowed\))?: (?P<statement>.+)$", re.MULTILINE)


def judge_inputs(prompt: str) -> tuple[str, dict[str, str]]:
    user = prompt.split("## User message", 1)[1].split("## Assistant response", 1)[0].strip()
    criteria = {m["id"]: m["statement"].strip() for m in _CRITERION.finditer(prompt.split("## Criteria", 1)[1])}
    return user, criteria


class ScriptedServer:
    def __init__(self, candidate: Callable[[str], str], judge: Callable[[str, dict[str, str]], Any], models: tuple[str, ...] = ("x", "judge")):
        self.candidate = candidate
        self.judge = judge
        self.models = models
        self.calls = {"candidate": 0, "judge": 0}
        self.judge_bodies: list[dict] = []  # every judge request as received
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in outer.models]})
                self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                messages = body.get("messages", [])
                user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
                if body.get("response_format"):
                    with outer.lock:
                        outer.calls["judge"] += 1
                        outer.judge_bodies.append(body)
                    out = outer.judge(*judge_inputs(user))
                    content = out if isinstance(out, str) else json.dumps(out)
                else:
                    with outer.lock:
                        outer.calls["candidate"] += 1
                    content = outer.candidate(user)
                self._send(200, {
                    "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60},
                })

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def cites_the_reply(verdict: Callable[[str, str], str]) -> Callable[[str, dict[str, str]], dict]:
    """A judge that reasons in its own words (cites the message) with verdict(criterion id, user message)."""
    def judge(user: str, criteria: dict[str, str]) -> dict:
        return {cid: {"reason": f"Looking at the reply to '{user[:30]}', criterion {cid} is judged on what it says.", "verdict": verdict(cid, user)} for cid in criteria}

    return judge
