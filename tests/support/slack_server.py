"""A local HTTP server that mimics the parts of the Slack Web API Lookout uses.

slack-sdk talks to it over real HTTP (``base_url=server.api_url``). It records
every call, answers like Slack (``channel`` id + a fresh ``ts`` for
``chat.postMessage``), and can be told to fail the next calls of a method
with 429 + ``Retry-After``, 500, or to hang; ``down()`` makes every call fail
(or the port refuse connections) until ``up()``, for outages; ``latency`` makes
every Web API call take that long, like Slack pacing a channel at about one
message a second. ``/response/...``
stands in for an interaction's ``response_url``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200  # what the mimic answered
    result: dict[str, Any] = field(default_factory=dict)  # the JSON body it answered


@dataclass
class Failure:
    kind: str  # "429" | "500" | "hang"
    retry_after: int = 1
    hang_seconds: float = 30.0


@dataclass
class SlackServer:
    calls: list[Call] = field(default_factory=list)
    responses: list[Call] = field(default_factory=list)  # posts to response_url
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None
    socket_url: str | None = None  # what apps.connections.open answers (Socket Mode tests)
    outage: Failure | None = None  # every Web API call fails like this until up()
    latency: float = 0.0  # seconds every Web API call takes before it is answered
    # What usergroups.list answers: [{"id": "S…", "handle": "oncall"}, ...]
    usergroups: list[dict[str, str]] = field(default_factory=list)
    tz_offsets: dict[str, int] = field(default_factory=dict)  # users.info: user id -> seconds
    user_names: dict[str, str] = field(default_factory=dict)  # users.info: user id -> name
    _port: int = 0

    def start(self) -> SlackServer:
        handler = _handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._httpd.daemon_threads = True
        self._port = int(self._httpd.server_address[1])
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def down(self, kind: str = "500") -> None:
        """Start an outage: "500" / "429" answer every call so; "refuse" closes the port."""
        if kind == "refuse":
            self.stop()
        else:
            with self._lock:
                self.outage = Failure(kind)

    def up(self) -> None:
        """End the outage: answer normally again, on the same port."""
        with self._lock:
            self.outage = None
        if self._httpd is None:
            self.start()

    def delivered(self, method: str | None = None) -> list[Call]:
        """The calls Slack accepted (answered 200 ``ok``), optionally of one method."""
        with self._lock:
            return [c for c in self.calls if c.status == 200 and c.result.get("ok")
                    and (method is None or c.method == method)]

    @property
    def url(self) -> str:
        assert self._port, "start() the server first"
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def fail_next(self, method: str, *failures: Failure) -> None:
        with self._lock:
            self.failures.setdefault(method, []).extend(failures)

    def by_method(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posts(self) -> list[Call]:
        """Top-level messages (not thread replies)."""
        return [c for c in self.by_method("chat.postMessage") if not c.params.get("thread_ts")]

    def replies(self) -> list[Call]:
        return [c for c in self.by_method("chat.postMessage") if c.params.get("thread_ts")]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """Poll ``predicate`` (yielding to the event loop) until true or the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"condition not met within {timeout}s; calls: {self.calls}")

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            queue = self.failures.get(method) or []
            failure = queue.pop(0) if queue else self.outage
            call = Call(method, params, time.time())
            self.calls.append(call)
        if self.latency:
            time.sleep(self.latency)  # this request's own handler thread
        status, headers, body = self._answer(method, params, failure)
        call.status, call.result = status, body
        return status, headers, body

    def _answer(self, method: str, params: dict[str, Any],
                failure: Failure | None) -> tuple[int, dict[str, str], Any]:
        if failure is not None:
            if failure.kind == "429":
                return 429, {"Retry-After": str(failure.retry_after)}, {
                    "ok": False, "error": "ratelimited"}
            if failure.kind == "500":
                return 500, {}, {"ok": False, "error": "internal_error"}
            time.sleep(failure.hang_seconds)
        channel = str(params.get("channel", ""))
        channel_id = channel if channel.startswith("C") else "C" + str(abs(hash(channel)) % 10**8)
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ts)}.000100"
            return 200, {}, {"ok": True, "channel": channel_id, "ts": ts,
                             "message": {"text": params.get("text"), "ts": ts}}
        if method == "chat.update":
            return 200, {}, {"ok": True, "channel": channel_id, "ts": params.get("ts"),
                             "text": params.get("text")}
        if method == "apps.connections.open" and self.socket_url:
            return 200, {}, {"ok": True, "url": self.socket_url}
        if method == "users.info":
            user_id = str(params.get("user"))
            if user_id not in self.tz_offsets and user_id not in self.user_names:
                return 200, {}, {"ok": False, "error": "user_not_found"}
            return 200, {}, {"ok": True, "user": {"id": user_id,
                                                  "tz_offset": self.tz_offsets.get(user_id, 0),
                                                  "name": self.user_names.get(user_id, "")}}
        if method == "usergroups.list":
            return 200, {}, {"ok": True, "usergroups": list(self.usergroups)}
        if method == "auth.test":
            return 200, {}, {"ok": True, "user_id": "UBOT", "team_id": "T1"}
        return 200, {}, {"ok": False, "error": "unknown_method"}


def _handler(server: SlackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype:
                params = json.loads(raw or b"{}")
            else:
                params = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                if isinstance(params.get("blocks"), str):
                    params["blocks"] = json.loads(params["blocks"])
            if self.path.startswith("/response/"):
                with server._lock:
                    server.responses.append(Call(self.path, params, time.time()))
                self._send(200, {}, b"ok")
                return
            method = self.path.rsplit("/", 1)[-1]
            status, headers, body = server.answer(method, params)
            self._send(status, headers, json.dumps(body).encode())

        def do_GET(self) -> None:  # slack-sdk reads with GET (users.info)
            path, _, query = self.path.partition("?")
            params = {k: v[0] for k, v in parse_qs(query).items()}
            status, headers, body = server.answer(path.rsplit("/", 1)[-1], params)
            self._send(status, headers, json.dumps(body).encode())

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler
