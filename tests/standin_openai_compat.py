"""A minimal local stand-in for an OpenAI-compatible server (vLLM, TGI): POST /v1/chat/completions only.

Tests script it: `answer` (request body -> reply text) decides what a request gets, `push` queues one-off
behaviours for the next requests (an HTTP status such as 500 or 429, or holding the request past the
client's timeout), `always` applies one behaviour to every request (a server that keeps timing out), and
`latency` holds each request a while so concurrency is observable (`max_in_flight`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Behaviour:
    kind: str  # status | timeout
    status: int = 500
    hold: float = 0.0


def status(code: int) -> Behaviour:
    return Behaviour("status", status=code)


def timeout(hold: float = 2.0) -> Behaviour:
    return Behaviour("timeout", hold=hold)


def user_text(body: dict[str, Any]) -> str:
    return next((str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user"), "")


@dataclass
class CompatServer:
    url: str = ""
    answer: Callable[[dict[str, Any]], str] = lambda body: "Label: unknown"
    latency: float = 0.0
    always: Behaviour | None = None
    queue: deque[Behaviour] = field(default_factory=deque)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def push(self, *behaviours: Behaviour) -> None:
        with self.lock:
            self.queue.extend(behaviours)

    @property
    def requests(self) -> int:
        with self.lock:
            return len(self.bodies)

    def _next(self) -> Behaviour | None:
        with self.lock:
            return self.queue.popleft() if self.queue else self.always


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, obj: Any) -> None:
        payload = json.dumps(obj).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self) -> None:
        st = self.server.state
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        with st.lock:
            st.bodies.append(body)
            st.authorizations.append(self.headers.get("Authorization", ""))
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            if st.latency:
                st.stopping.wait(st.latency)
            behaviour = st._next()
            if behaviour is not None and behaviour.kind == "timeout":
                st.stopping.wait(behaviour.hold)
                self.close_connection = True
                return None
            if behaviour is not None and behaviour.kind == "status":
                return self._send(behaviour.status, {"error": {"message": f"stand-in {behaviour.status}"}})
            text = st.answer(body)
            return self._send(
                200,
                {
                    "id": "cmpl-standin",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "standin"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                },
            )
        finally:
            with st.lock:
                st.in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: CompatServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextlib.contextmanager
def running() -> Iterator[CompatServer]:
    """A running stand-in; held requests are released and the server stopped on exit."""
    state = CompatServer()
    server = _Server(state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
