"""lookout.http_limits through a real ``lookout serve``: head limits, timeouts, the connection cap."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lookout.http_limits import RESERVED_FDS, connection_cap
from tests.support.server import LookoutServer

FAST = {"LOOKOUT_HEADER_TIMEOUT": "1", "LOOKOUT_BODY_TIMEOUT": "1",
        "LOOKOUT_KEEPALIVE_TIMEOUT": "1"}


def _connect(server: LookoutServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _until_closed(sock: socket.socket, timeout: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes (a reset counts as closed), and when."""
    got = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while True:
        assert time.monotonic() < deadline, f"still open after {timeout} s; got {got[:200]!r}"
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    return got, time.monotonic()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _healthz(server: LookoutServer) -> int:
    with urllib.request.urlopen(server.url + "/healthz", timeout=5) as resp:
        return resp.status


def _peak_rss_mb(server: LookoutServer) -> float:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith("VmHWM:"))) / 1024


def test_a_64_mb_header_is_refused_and_the_connection_closed(server_factory):
    server = server_factory()
    rss_before = _peak_rss_mb(server)
    sock = _connect(server)
    sent = 0
    total = 64 * 1024 * 1024
    chunk = b"a" * (1024 * 1024)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    answer, _ = _until_closed(sock)
    sock.close()
    assert sent < total, "the server read the whole 64 MB header"
    assert _status(answer) in (431, 0), answer[:200]  # 0: reset before the answer was read
    assert _peak_rss_mb(server) - rss_before < 20
    assert _healthz(server) == 200


def test_a_head_over_the_limit_gets_431_naming_the_limit(server_factory):
    server = server_factory(env={"LOOKOUT_MAX_HEADER_BYTES": "8192"})
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n")
    answer, _ = _until_closed(sock)
    assert _status(answer) == 431, answer[:200]
    assert b"over the limit of 8192 bytes" in answer
    # Below the limit, the same request is answered normally.
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
                 + b"a" * 6_000 + b"\r\n\r\n")
    assert _status(_until_closed(sock)[0]) == 200


def test_200000_headers_are_refused(server_factory):
    server = server_factory()
    sock = _connect(server)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200_000 + b"\r\n"
    try:
        sock.sendall(head)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer, _ = _until_closed(sock)
    assert _status(answer) in (431, 0), answer[:200]
    # 101 small headers: within the byte limit, over the count.
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 100 + b"\r\n")
    answer, _ = _until_closed(sock)
    assert _status(answer) == 431 and b"more than 100 request headers" in answer, answer
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n" + b"X-A: b\r\n" * 98
                 + b"\r\n")
    assert _status(_until_closed(sock)[0]) == 200


def test_a_head_sent_slowly_is_answered_408_after_the_header_timeout(server_factory):
    server = server_factory(env=FAST)
    sock = _connect(server)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    closed = threading.Event()

    def trickle() -> None:  # slowloris: a byte now and then, never the end of the head
        while not closed.wait(0.1):
            try:
                sock.send(b"X")
            except OSError:
                return

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        answer, ended = _until_closed(sock)
    finally:
        closed.set()
        sender.join(5)
        sock.close()
    assert _status(answer) == 408 and b"not complete within 1 s" in answer, answer
    assert 0.9 <= ended - started < 5


def test_idle_connections_are_closed(server_factory):
    server = server_factory(env=FAST)
    fresh = _connect(server)  # connects, sends nothing
    started = time.monotonic()
    answer, ended = _until_closed(fresh)
    assert answer == b"" and 0.9 <= ended - started < 5

    kept = _connect(server)  # one request, then idle on keep-alive
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer, _ = _until_closed(kept)
    assert _status(answer) == 200


def test_a_stalled_body_is_answered_408_and_nothing_is_stored(server_factory, db_url):
    server = server_factory(db_url=db_url, env=FAST)
    dsn = urlsplit(server.create_project())
    body = json.dumps({"logs": [{"message": "never complete"}]}).encode()
    sock = _connect(server)
    started = time.monotonic()
    sock.sendall(f"POST /api/{dsn.path.strip('/')}/ingest HTTP/1.1\r\nHost: x\r\n"
                 f"X-Lookout-Key: {dsn.username}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body) + 100}\r\n\r\n".encode() + body)
    answer, ended = _until_closed(sock)
    sock.close()
    assert _status(answer) == 408 and b"no request body data for 1 s" in answer, answer
    assert 0.9 <= ended - started < 5
    token = server.create_token()
    req = urllib.request.Request(server.url + "/api/v1/logs?q=never",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.load(resp)["items"] == []


def test_a_slow_but_steady_body_is_not_cut(server_factory):
    server = server_factory(env=FAST)
    dsn = urlsplit(server.create_project())
    body = json.dumps({"logs": [{"message": "slow"}]}).encode()
    sock = _connect(server)
    sock.sendall(f"POST /api/{dsn.path.strip('/')}/ingest HTTP/1.1\r\nHost: x\r\n"
                 f"X-Lookout-Key: {dsn.username}\r\nContent-Type: application/json\r\n"
                 f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode())
    for i in range(len(body)):  # 2.5 s in all, each gap well below the 1 s timeout
        sock.sendall(body[i:i + 1])
        time.sleep(2.5 / len(body))
    answer, _ = _until_closed(sock)
    assert _status(answer) == 202, answer


@pytest.mark.parametrize("bodies_only", [False, True], ids=["heads-and-bodies", "bodies"])
def test_many_unfinished_connections_leave_healthz_answering(server_factory, bodies_only):
    # A small open-files limit, as on a default system (1,024) but quicker to fill.
    server = server_factory(nofile=(256, 256))
    unfinished: list[socket.socket] = []
    half_head = b"POST /api/1/ingest HTTP/1.1\r\nHost: x\r\n"
    half_body = half_head + b"Content-Length: 1000\r\nContent-Type: application/json\r\n\r\n{"
    try:
        for n in range(400):  # unfinished heads and bodies, each past the cap of 192
            try:
                sock = _connect(server)
                sock.sendall(half_head if n % 2 and not bodies_only else half_body)
            except OSError:
                continue
            unfinished.append(sock)
        answers = [_healthz(server) for _ in range(20)]
    finally:
        for sock in unfinished:
            sock.close()
    assert answers == [200] * 20
    warnings = [line for line in server.log().splitlines() if "connection limit (192)" in line]
    assert 1 <= len(warnings) <= 2, warnings  # not one per connection


def test_serve_raises_the_open_files_limit_to_the_hard_limit(server_factory):
    server = server_factory(nofile=(256, 4096))
    assert server.process is not None
    limits = Path(f"/proc/{server.process.pid}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    assert line.split()[3:5] == ["4096", "4096"], line


@pytest.mark.parametrize("wanted,fd_limit,cap", [(1000, 20000, 1000), (1000, 1024, 1024 -
                                                  RESERVED_FDS), (5, 10, 1)])
def test_the_connection_cap_stays_below_the_open_files_limit(wanted, fd_limit, cap):
    assert connection_cap(wanted, fd_limit) == cap
