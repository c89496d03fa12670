"""Load from the real ``lookout_sdk``: app threads logging, one SDK sender, every answer noted.

Fault tests count what the app handed to the SDK (``emitted``) and compare it
with what the database holds: once the SDK has taken a record it must end up
stored exactly once. :class:`RecordingTransport` is the SDK's own
``HTTPTransport`` (real sockets) that also notes each answer, so a test can
check what the server said while something was broken (503 + Retry-After,
never 500).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import lookout_sdk
from lookout_sdk.errors import TransportError
from lookout_sdk.transport import HTTPTransport, Request, Response


@dataclass(frozen=True)
class Exchange:
    """One attempt to send a batch: the status (or "connection error") and Retry-After."""

    status: int | str
    retry_after: str | None
    batch_id: str | None


class RecordingTransport(HTTPTransport):
    def __init__(self, timeout: float = 30.0) -> None:
        super().__init__(timeout=timeout)
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def send(self, request: Request) -> Response:
        batch_id = request.headers.get("X-Lookout-Batch-Id")
        try:
            response = super().send(request)
        except TransportError:
            self._note(Exchange("connection error", None, batch_id))
            raise
        self._note(Exchange(response.status, response.headers.get("retry-after"), batch_id))
        return response

    def _note(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def statuses(self) -> Counter[int | str]:
        with self._lock:
            return Counter(e.status for e in self.exchanges)

    def since(self, index: int) -> list[Exchange]:
        with self._lock:
            return self.exchanges[index:]


class SdkLoad:
    """``threads`` app threads log ``"{tag} t{thread} n{number}"`` through the SDK until stopped.

    The SDK is configured as an app would (HTTP to ``dsn``), with a queue big
    enough that nothing is dropped for lack of room while a server is down.
    """

    def __init__(self, dsn: str, tag: str, threads: int = 4, pause: float = 0.002) -> None:
        self.dsn = dsn
        self.tag = tag
        self.pause = pause
        self.transport = RecordingTransport()
        self.logger = logging.getLogger(f"faults.{tag}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False  # the SDK still sees every record; pytest need not
        self._stop = threading.Event()
        self._counts = [0] * threads
        self._threads = [threading.Thread(target=self._emit, args=(t,), daemon=True)
                         for t in range(threads)]

    def start(self) -> Self:
        assert lookout_sdk.init(self.dsn, service="faults", flush_interval=0.05,
                                max_queue=5_000_000, transport=self.transport,
                                capture_unhandled=False, shutdown_timeout=0)
        for thread in self._threads:
            thread.start()
        return self

    def _emit(self, t: int) -> None:
        n = 0
        while not self._stop.is_set():
            self.logger.info(f"{self.tag} t{t} n{n}")
            n += 1
            self._counts[t] = n
            time.sleep(self.pause)

    @property
    def emitted(self) -> int:
        return sum(self._counts)

    def wait_emitted(self, more: int, timeout: float = 60.0) -> None:
        """Block until ``more`` further records were handed to the SDK."""
        target = self.emitted + more
        deadline = time.monotonic() + timeout
        while self.emitted < target:
            assert time.monotonic() < deadline, f"load stalled at {self.emitted} records"
            time.sleep(0.01)

    def wait_for(self, predicate: Callable[[], object], what: str, timeout: float = 60.0
                 ) -> None:
        """Poll ``predicate()`` (load keeps running) until true; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"{what} not seen within {timeout}s " \
                                                f"(answers so far: {self.transport.statuses()})"
            time.sleep(0.02)

    def finish(self, flush_timeout: float = 180.0) -> int:
        """Stop the app threads, flush everything; return how many records were emitted."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        assert lookout_sdk.flush(flush_timeout), \
            f"SDK could not deliver everything: {self.transport.statuses()}"
        return self.emitted

    def close(self) -> None:
        self._stop.set()
        lookout_sdk.close(timeout=0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def stored_counts(database_url: str, tag: str) -> tuple[int, int]:
    """(rows, distinct messages) of the stored logs whose message starts with ``tag``."""
    from sqlalchemy import distinct, func, select

    from collector.tables import logs
    from lookout.db import create_engine

    async def count() -> tuple[int, int]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(
                    select(func.count(), func.count(distinct(logs.c.message)))
                    .where(logs.c.message.like(f"{tag} %")))).one()
        finally:
            await engine.dispose()
        return int(row[0]), int(row[1])

    return asyncio.run(count())
