"""lookout.http_protocol: writes of one loop turn reach a real TCP socket as one write."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx

from lookout.http_protocol import CoalescingTransport


async def _connected() -> tuple[CoalescingTransport, socket.socket, asyncio.Transport]:
    """A CoalescingTransport over a real TCP connection, and the peer's plain socket."""
    listener = socket.create_server(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol,
                                                *listener.getsockname()[:2])
    peer, _ = listener.accept()
    listener.close()
    peer.setblocking(False)
    return CoalescingTransport(transport, loop), peer, transport


async def _read(peer: socket.socket, until: bytes | None, timeout: float = 10.0) -> bytes:
    """What arrives until ``until`` ends it, or (``until=None``) until the connection ends."""
    got = b""
    deadline = time.monotonic() + timeout
    while until is None or not got.endswith(until):
        assert time.monotonic() < deadline, f"only {got!r} arrived"
        try:
            chunk = peer.recv(65536)
        except BlockingIOError:
            await asyncio.sleep(0.005)  # the loop must run for the transport to act
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    return got


async def test_writes_of_one_turn_are_sent_together_at_its_end():
    wrapped, peer, raw = await _connected()
    try:
        wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        wrapped.write(memoryview(b"ok"))
        try:
            early = peer.recv(100)
        except BlockingIOError:
            early = b""
        assert early == b"", "nothing may reach the socket before the turn ends"
        await asyncio.sleep(0)
        assert await _read(peer, b"ok") == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        assert wrapped.get_extra_info("peername") == raw.get_extra_info("peername")
    finally:
        raw.close()
        peer.close()


async def test_close_sends_what_is_pending_first_and_abort_drops_it():
    wrapped, peer, _raw = await _connected()
    wrapped.write(b"last ")
    wrapped.write(b"words")
    wrapped.close()
    assert await _read(peer, None) == b"last words"  # then the end of the stream
    peer.close()

    wrapped, peer, _raw = await _connected()
    wrapped.write(b"never sent")
    wrapped.abort()
    await asyncio.sleep(0)
    assert await _read(peer, None) == b""
    peer.close()


def test_lookout_serve_answers_through_it(server_factory):
    server = server_factory()
    with httpx.Client(base_url=server.url) as http:  # keep-alive: several answers, one socket
        for _ in range(3):
            resp = http.get("/healthz")
            assert (resp.status_code, resp.json()) == (200, {"status": "ok"})
        refused = http.post("/api/1/envelope/", content=b"{}\n")
        assert refused.status_code == 401 and "sentry_key" in refused.json()["error"]
