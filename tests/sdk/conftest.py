"""SDK fixtures: a recording transport, a scriptable local HTTP peer, SDK reset.

``Peer`` is a real HTTP server on loopback that answers each ingest request
as the test scripts it (202, 503 + Retry-After, 429, 400, hang, garbage,
connection reset). It is the hostile or flaky collector the SDK must
survive — not a stand-in for Lookout; end-to-end tests use ``lookout serve``.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import lookout_sdk
import pytest
from lookout_sdk.transport import MockTransport, Request, Response


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until truthy; fail with a clear message at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def decode_body(body: bytes) -> dict[str, Any]:
    return json.loads(gzip.decompress(body))


class Recorder:
    """A MockTransport handler that keeps every decoded batch and answers 202."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            self.batches.append(decode_body(request.body))
        return Response(202, {}, b'{"accepted":0,"rejected":[]}')

    def records(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for b in self.batches for r in b.get(kind, [])]


@pytest.fixture(autouse=True)
def reset_sdk() -> Iterator[None]:
    """Every test starts and ends with the SDK disabled."""
    lookout_sdk.close(timeout=0.5)
    yield
    lookout_sdk.close(timeout=0.5)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sdk(recorder: Recorder) -> Recorder:
    """The SDK initialised with a recording transport (fast flush interval)."""
    assert lookout_sdk.init(
        "http://key@127.0.0.1:9/1",
        service="svc",
        environment="test",
        release="1.0",
        flush_interval=0.05,
        transport=MockTransport(recorder),
    )
    return recorder


# --- a scriptable HTTP peer on loopback ---------------------------------------------------


@dataclass
class Peer:
    """Answers POSTs according to ``script`` (a list of actions, then ``default``).

    Actions: an int status (``202``), ``(status, {"Retry-After": "1"})``,
    ``"hang"`` (read the request, never answer), ``"garbage"`` (non-HTTP bytes),
    ``"reset"`` (close the connection without answering), ``"202-close"`` (answer,
    then close the kept-alive connection as an idle timeout would).
    """

    port: int = 0
    script: list[Any] = field(default_factory=list)
    default: Any = 202
    bodies: list[dict[str, Any]] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    batch_ids: list[str | None] = field(default_factory=list)  # X-Lookout-Batch-Id per request
    connections: int = 0
    _sock: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _conns: list[socket.socket] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dsn(self) -> str:
        return f"http://peerkey@127.0.0.1:{self.port}/7"

    def start(self) -> Peer:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(2)

    def records(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for b in self.bodies for r in b.get(kind, [])]

    def _next_action(self) -> Any:
        with self.lock:
            action = self.script.pop(0) if self.script else self.default
            self.actions.append(action)
            return action

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with self.lock:
                self.connections += 1
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _read_request(self, conn: socket.socket, buf: bytes) -> tuple[bytes, bytes] | None:
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        length = 0
        batch_id = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            if name.strip().lower() == b"x-lookout-batch-id":
                batch_id = value.strip().decode()
        with self.lock:
            self.batch_ids.append(batch_id)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            rest += chunk
        return rest[:length], rest[length:]

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        buf = b""
        try:
            while not self._stop.is_set():
                got = self._read_request(conn, buf)
                if got is None:
                    return
                body, buf = got
                action = self._next_action()
                if action == "hang":
                    self._stop.wait(30)
                    return
                if action == "garbage":
                    conn.sendall(b"\x00\xffthis is not http\r\n\r\n")
                    return
                if action == "reset":
                    conn.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    return
                close_after = action == "202-close"
                if close_after:
                    action = 202
                status, headers = action if isinstance(action, tuple) else (action, {})
                if 200 <= status < 300:
                    with self.lock:
                        self.bodies.append(decode_body(body))
                payload = b'{"accepted":1,"rejected":[]}' if status < 300 else b'{"error":"no"}'
                extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                conn.sendall(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n{extra}\r\n".encode()
                    + payload
                )
                if close_after:
                    return
        except OSError:
            pass
        finally:
            conn.close()


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer().start()
    yield p
    p.stop()
