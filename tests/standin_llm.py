"""A local stand-in for the OpenAI and Anthropic HTTP APIs, so provider tests never touch the network.

One `ThreadingHTTPServer` on 127.0.0.1 (random port) serves both API shapes. Each test scripts it:
a queue of behaviours for the completion endpoints (`ok`, `malformed`, `status`, `timeout`), a default
responder (request JSON -> reply text), a per-request latency to make concurrency observable, and a
log of every request (path, headers, body, the usage it was answered with). Batches advance on
retrieve: in progress on the first, finished from the second on.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Responder = Callable[[dict[str, Any]], str]

OPENAI_COMPLETIONS = "/v1/chat/completions"
ANTHROPIC_MESSAGES = "/v1/messages"


@dataclass(frozen=True)
class Behaviour:
    """What the next completion request gets instead of the default responder's answer."""

    kind: str  # ok | malformed_body | malformed_content | status | timeout
    text: str = ""
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0


def ok(text: str) -> Behaviour:
    """Answer 200 with this exact reply text."""
    return Behaviour("ok", text=text)


def malformed(*, body: bool = True) -> Behaviour:
    """Answer 200 with a body that is not JSON (body=True) or with reply text that is not JSON (body=False)."""
    return Behaviour("malformed_body" if body else "malformed_content")


def status(code: int, *, retry_after: float | str | None = None) -> Behaviour:
    """Answer with an HTTP error status, optionally with a Retry-After header (seconds or an HTTP date)."""
    return Behaviour("status", status=code, retry_after=None if retry_after is None else str(retry_after))


def timeout(seconds: float = 2.0) -> Behaviour:
    """Hold the request longer than the client's timeout, then give up without answering."""
    return Behaviour("timeout", delay=seconds)


def user_text(body: dict[str, Any]) -> str:
    """The user prompt of an OpenAI- or Anthropic-shaped request body."""
    for msg in body.get("messages", []):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return ""


def system_text(body: dict[str, Any]) -> str:
    """The system prompt of either request shape (OpenAI: a message; Anthropic: the `system` field)."""
    if "system" in body:
        system = body["system"]
        return system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
    for msg in body.get("messages", []):
        if msg.get("role") == "system":
            return str(msg.get("content"))
    return ""


def default_responder(body: dict[str, Any]) -> str:
    """A JSON reply that depends on the prompt, so distinct requests get distinct answers."""
    return json.dumps({"instructions": [f"Classify this text: {user_text(body)[:60]}"]}, ensure_ascii=False)


def usage_for(body: dict[str, Any], text: str) -> tuple[int, int]:
    """Token counts shaped like real ones: about four characters a token plus a little overhead."""
    prompt = system_text(body) + user_text(body)
    return 7 + math.ceil(len(prompt) / 4), max(1, math.ceil(len(text) / 4))


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    usage: tuple[int, int] | None = None  # the (input, output) tokens the reply reported, if any


@dataclass
class StandIn:
    """The scriptable state behind the server; tests talk to this object."""

    url: str = ""
    responder: Responder = default_responder
    latency: float = 0.0  # seconds each completion request is held (makes overlap measurable)
    behaviours: deque[Behaviour] = field(default_factory=deque)
    log: list[LoggedRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.url

    def push(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next completion requests (first in, first used)."""
        with self.lock:
            self.behaviours.extend(behaviours)

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """How many requests were received (optionally for one path and method)."""
        with self.lock:
            return sum(
                1 for r in self.log if (path is None or r.path == path) and (method is None or r.method == method)
            )

    def requests(self, path: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.log if path is None or r.path == path]

    def next_id(self, prefix: str) -> str:
        with self.lock:
            return f"{prefix}_{next(self.ids):06d}"

    def next_behaviour(self) -> Behaviour | None:
        with self.lock:
            return self.behaviours.popleft() if self.behaviours else None


def _openai_completion(body: dict[str, Any], text: str, usage: tuple[int, int], rid: str) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{body.get('model', 'gpt-4o')}-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        "system_fingerprint": "fp_standin",
    }


def _anthropic_message(body: dict[str, Any], text: str, usage: tuple[int, int], rid: str) -> dict[str, Any]:
    return {
        "id": rid,
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-3-5-sonnet-latest"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        return

    # -- plumbing ------------------------------------------------------------------------------------------

    @property
    def state(self) -> StandIn:
        return self.server.state

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, payload: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to do

    def _json(self, code: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(obj).encode(), "application/json", extra)

    def _log(self, body: Any) -> LoggedRequest:
        entry = LoggedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.state.lock:
            self.state.log.append(entry)
        return entry

    def do_POST(self) -> None:
        raw = self._read_body()
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            self._log({"multipart": True})
            return self._openai_file_upload(raw, ctype)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._log(raw.decode("utf-8", "replace"))
            return self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
        entry = self._log(body)
        if self.path == OPENAI_COMPLETIONS:
            return self._complete(entry, body, anthropic=False)
        if self.path == ANTHROPIC_MESSAGES:
            return self._complete(entry, body, anthropic=True)
        if self.path == "/v1/batches":
            return self._openai_batch_create(body)
        if self.path == "/v1/messages/batches":
            return self._anthropic_batch_create(body)
        return self._json(404, {"error": {"message": f"no route POST {self.path}", "type": "not_found_error"}})

    def do_GET(self) -> None:
        self._log(None)
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["v1", "batches"] and len(parts) == 3:
            return self._openai_batch_retrieve(parts[2])
        if parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content":
            data = self.state.files.get(parts[2])
            if data is None:
                return self._json(404, {"error": {"message": "no such file", "type": "not_found_error"}})
            return self._send(200, data, "application/octet-stream")
        if parts[:3] == ["v1", "messages", "batches"] and len(parts) == 4:
            return self._anthropic_batch_retrieve(parts[3])
        if parts[:3] == ["v1", "messages", "batches"] and len(parts) == 5 and parts[4] == "results":
            return self._anthropic_batch_results(parts[3])
        return self._json(404, {"error": {"message": f"no route GET {self.path}", "type": "not_found_error"}})

    # -- completions ---------------------------------------------------------------------------------------

    def _complete(self, entry: LoggedRequest, body: dict[str, Any], *, anthropic: bool) -> None:
        st = self.state
        with st.lock:
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            if st.latency:
                st.stopping.wait(st.latency)
            self._complete_inner(entry, body, anthropic=anthropic)
        finally:
            with st.lock:
                st.in_flight -= 1

    def _complete_inner(self, entry: LoggedRequest, body: dict[str, Any], *, anthropic: bool) -> None:
        st = self.state
        behaviour = st.next_behaviour()
        if behaviour is not None and behaviour.kind == "timeout":
            st.stopping.wait(behaviour.delay)
            self.close_connection = True
            return
        if behaviour is not None and behaviour.kind == "status":
            extra = {"Retry-After": behaviour.retry_after} if behaviour.retry_after is not None else {}
            err_type = {429: "rate_limit_error", 529: "overloaded_error"}.get(behaviour.status, "api_error")
            if 400 <= behaviour.status < 500 and behaviour.status != 429:
                err_type = "invalid_request_error"
            payload: dict[str, Any] = {"error": {"message": f"stand-in {behaviour.status}", "type": err_type}}
            if anthropic:
                payload = {"type": "error", **payload}
            return self._json(behaviour.status, payload, extra)
        if behaviour is not None and behaviour.kind == "malformed_body":
            return self._send(200, b"<html>upstream proxy error</html>", "application/json")
        if behaviour is not None and behaviour.kind == "malformed_content":
            text = "Sure! Here are some instructions: 1. classify the text"
        elif behaviour is not None:
            text = behaviour.text
        else:
            text = st.responder(body)
        usage = usage_for(body, text)
        entry.usage = usage
        if anthropic:
            return self._json(200, _anthropic_message(body, text, usage, st.next_id("msg")))
        return self._json(200, _openai_completion(body, text, usage, st.next_id("chatcmpl")))

    # -- OpenAI batches --------------------------------------------------------------------------------------

    def _openai_file_upload(self, raw: bytes, ctype: str) -> None:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + raw
        )
        content, filename, purpose = b"", "upload.jsonl", ""
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                content = part.get_payload(decode=True) or b""
                filename = part.get_filename() or filename
            elif name == "purpose":
                purpose = (part.get_payload(decode=True) or b"").decode()
        file_id = self.state.next_id("file")
        self.state.files[file_id] = content
        self._json(
            200,
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": purpose or "batch",
                "status": "processed",
            },
        )

    def _openai_batch_view(self, batch: dict[str, Any]) -> dict[str, Any]:
        done = batch["retrieves"] >= 2
        return {
            "id": batch["id"],
            "object": "batch",
            "endpoint": batch["endpoint"],
            "input_file_id": batch["input_file_id"],
            "completion_window": "24h",
            "status": "completed" if done else ("in_progress" if batch["retrieves"] else "validating"),
            "created_at": int(batch["created"]),
            "output_file_id": batch.get("output_file_id") if done else None,
            "request_counts": {
                "total": len(batch["lines"]),
                "completed": len(batch["lines"]) if done else 0,
                "failed": 0,
            },
        }

    def _openai_batch_create(self, body: dict[str, Any]) -> None:
        data = self.state.files.get(body.get("input_file_id", ""))
        if data is None:
            return self._json(400, {"error": {"message": "unknown input_file_id", "type": "invalid_request_error"}})
        lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        batch = {
            "id": self.state.next_id("batch"),
            "endpoint": body.get("endpoint"),
            "input_file_id": body["input_file_id"],
            "created": time.time(),
            "retrieves": 0,
            "lines": lines,
        }
        self.state.batches[batch["id"]] = batch
        self._json(200, self._openai_batch_view(batch))

    def _openai_batch_retrieve(self, batch_id: str) -> None:
        batch = self.state.batches.get(batch_id)
        if batch is None:
            return self._json(404, {"error": {"message": "no such batch", "type": "not_found_error"}})
        batch["retrieves"] += 1
        if batch["retrieves"] >= 2 and "output_file_id" not in batch:
            out = []
            for line in batch["lines"]:
                req = line["body"]
                text = self.state.responder(req)
                usage = usage_for(req, text)
                resp = _openai_completion(req, text, usage, self.state.next_id("chatcmpl"))
                out.append(
                    {
                        "id": self.state.next_id("batch_req"),
                        "custom_id": line["custom_id"],
                        "response": {"status_code": 200, "request_id": self.state.next_id("req"), "body": resp},
                        "error": None,
                    }
                )
            file_id = self.state.next_id("file")
            self.state.files[file_id] = "".join(json.dumps(o) + "\n" for o in out).encode()
            batch["output_file_id"] = file_id
        self._json(200, self._openai_batch_view(batch))

    # -- Anthropic batches -----------------------------------------------------------------------------------

    def _anthropic_batch_view(self, batch: dict[str, Any]) -> dict[str, Any]:
        done = batch["retrieves"] >= 2
        n = len(batch["requests"])
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": "ended" if done else "in_progress",
            "request_counts": {
                "processing": 0 if done else n,
                "succeeded": n if done else 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": _iso(batch["created"]),
            "expires_at": _iso(batch["created"] + 86400),
            "ended_at": _iso(time.time()) if done else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.state.url}/v1/messages/batches/{batch['id']}/results" if done else None,
        }

    def _anthropic_batch_create(self, body: dict[str, Any]) -> None:
        batch = {"id": self.state.next_id("msgbatch"), "created": time.time(), "retrieves": 0}
        batch["requests"] = list(body.get("requests", []))
        self.state.batches[batch["id"]] = batch
        self._json(200, self._anthropic_batch_view(batch))

    def _anthropic_batch_retrieve(self, batch_id: str) -> None:
        batch = self.state.batches.get(batch_id)
        if batch is None:
            return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "no batch"}})
        batch["retrieves"] += 1
        self._json(200, self._anthropic_batch_view(batch))

    def _anthropic_batch_results(self, batch_id: str) -> None:
        batch = self.state.batches.get(batch_id)
        if batch is None or batch["retrieves"] < 2:
            return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not ended"}})
        if "results" not in batch:
            out = []
            for item in batch["requests"]:
                params = item["params"]
                text = self.state.responder(params)
                usage = usage_for(params, text)
                message = _anthropic_message(params, text, usage, self.state.next_id("msg"))
                out.append({"custom_id": item["custom_id"], "result": {"type": "succeeded", "message": message}})
            batch["results"] = "".join(json.dumps(o) + "\n" for o in out).encode()
        self._send(200, batch["results"], "application/binary")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: StandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A running stand-in server for one test; stopped (and any held requests released) afterwards."""
    state = StandIn()
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
