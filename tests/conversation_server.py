"""A loopback OpenAI-compatible server (127.0.0.1 only) playing three parts of a multi-turn run:

- the simulated user (requests whose system prompt is basesel's simulator prompt): writes the next user
  message, or the stop token from turn `stop_at` on, or fails (`sim_fail`: HTTP 500 / empty output);
- the judge (requests with a JSON schema): 'yes' on every criterion, except 'no' on every criterion
  when the prompt shows a conversation of more than `judge_fails_over` turns;
- the candidate (everything else): a reply quoting the user's last message.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from basesel.run.conversation import STOP_TOKEN


class ConversationServer:
    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.stop_at: int | None = None  # the simulator ends the conversation instead of writing this turn
        self.sim_fail: str | None = None  # "500" | "empty"
        self.judge_fails_over: int | None = None
        self.lock = threading.Lock()
        self.calls = {"candidate": 0, "simulator": 0, "judge": 0}
        self.sim_prompts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})

            def do_POST(self) -> None:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                code, content = outer.answer(req)
                if code != 200:
                    self._send(code, {"error": {"type": "api_error", "message": "simulator down"}})
                    return
                self._send(200, {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": req.get("model"),
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(content) // 4), "total_tokens": 0}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ConversationServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, req: dict[str, Any]) -> tuple[int, str]:
        messages = req.get("messages", [])
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        last_user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        fmt = req.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema")
        time.sleep(self.delay)
        if system.startswith("You play a user"):
            with self.lock:
                self.calls["simulator"] += 1
                self.sim_prompts.append(last_user)
            turn = int(re.search(r"turn (\d+) of at most", last_user).group(1))
            if self.sim_fail == "500":
                return 500, ""
            if self.sim_fail == "empty":
                return 200, "   "
            if self.stop_at is not None and turn >= self.stop_at:
                return 200, STOP_TOKEN
            return 200, f"USER: ok, and what about step {turn}? my boss is still on at me"
        if schema is not None:
            with self.lock:
                self.calls["judge"] += 1
            m = re.search(r"## Conversation \((\d+) turns\)", last_user)
            n_turns = int(m.group(1)) if m else 1
            verdict = "no" if self.judge_fails_over is not None and n_turns > self.judge_fails_over else "yes"
            return 200, json.dumps({cid: {"reason": f"{n_turns} turns seen", "verdict": verdict} for cid in schema["properties"]})
        with self.lock:
            self.calls["candidate"] += 1
        n_user = sum(1 for m in messages if m.get("role") == "user")
        return 200, f"I hear you (turn {n_user}). You said: {' '.join(last_user.split()[:10])}. What feels hardest right now?"
