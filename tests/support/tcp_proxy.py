"""A loopback TCP proxy that can be cut and restored: a real network fault.

Used to make the database "go away" under a running Lookout without stopping
the shared PostgreSQL server: ``cut()`` drops every open connection and
refuses new ones; ``restore()`` lets traffic through again.
``lose_answers(n)`` lets the next ``n`` requests through but cuts the client's
connection when the server's answer arrives: the server did the work, the
client never learns it (the case retries with batch ids exist for).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from contextlib import suppress


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._lose_answers = 0
        self.answers_lost = 0
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()

    def start(self) -> TcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(5)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer),
                             self._pipe(up_reader, writer, answers=True))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    answers: bool = False) -> None:
        try:
            while data := await reader.read(65536):
                if self._cut:
                    break
                if answers and self._lose_answers > 0:
                    self._lose_answers -= 1
                    self.answers_lost += 1
                    writer.transport.abort()
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            with suppress(Exception):
                writer.close()

    def cut(self) -> None:
        def _cut() -> None:
            self._cut = True
            for w in list(self._writers):
                with suppress(Exception):
                    w.transport.abort()
            self._writers.clear()
        self.loop.call_soon_threadsafe(_cut)

    def lose_answers(self, n: int) -> None:
        def _lose() -> None:
            self._lose_answers = n
        self.loop.call_soon_threadsafe(_lose)

    def restore(self) -> None:
        def _restore() -> None:
            self._cut = False
        self.loop.call_soon_threadsafe(_restore)

    def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self.loop.call_soon_threadsafe(self._server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
