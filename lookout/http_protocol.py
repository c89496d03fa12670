"""uvicorn's httptools protocol, writing each answer with one system call.

uvicorn writes the status line and headers as soon as the app sends
``http.response.start``, and the body with the next message: two ``send()``
calls per answer, and on a keep-alive connection two wake-ups of the client,
which reads the head and then waits again for the body. For small answers
(every ingest reply) that second round of system calls cost about as much
as the rest of the HTTP work. Here writes made during one turn of the event
loop are joined and handed to the socket once, at the end of that turn.
Nothing is held longer than that turn, and ``close()`` writes what is
pending first, so answers and connection handling are unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """Wraps a transport: ``write`` collects, one ``write`` per loop turn reaches the socket."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(bytes(data))

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` on a :class:`CoalescingTransport` (``uvicorn.Config(http=...)``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        wrapped: Any = CoalescingTransport(transport, self.loop)  # type: ignore[arg-type]
        super().connection_made(wrapped)
