"""Background jobs that shutdown waits for, then cuts off in one log line.

APScheduler's asyncio executor cancels a running coroutine job at ``shutdown()`` and logs
that ``CancelledError`` with a full traceback ("Job ... raised an exception"). A slow storage refresh or retention run at
``SIGTERM`` would put a traceback in the server's log for an ordinary stop. Jobs
registered through :class:`Jobs` are awaited for a bounded time instead, so they finish
before the engine is disposed, and one still running after that is cancelled and noted
as one line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("lookout")


class Jobs:
    """Scheduled coroutines of one process, tracked so :meth:`stop` can drain them."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.scheduler = scheduler
        self.stopping = False
        self._running: set[asyncio.Task[Any]] = set()

    def every(self, name: str, seconds: float, func: Callable[[], Awaitable[Any]],
              **options: Any) -> None:
        """Run ``func`` every ``seconds``: one run at a time, missed runs coalesced."""
        self.scheduler.add_job(self._wrap(name, func), "interval", seconds=seconds, id=name,
                               max_instances=1, coalesce=True, **options)

    def _wrap(self, name: str, func: Callable[[], Awaitable[Any]]
              ) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            if self.stopping:
                return
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await func()
            except asyncio.CancelledError:
                if not self.stopping:
                    raise
                log.info("background job cut off at shutdown", extra={"job": name})
            finally:
                if task is not None:
                    self._running.discard(task)
        return job

    async def stop(self, wait_seconds: float) -> None:
        """Start no new runs; wait up to ``wait_seconds`` for running ones, then cancel them.

        The scheduler is shut down last: its own shutdown cancels running jobs at once.
        """
        self.stopping = True
        if self.scheduler.running:
            self.scheduler.pause()
        running = list(self._running)
        if running:
            _done, pending = await asyncio.wait(running, timeout=wait_seconds)
            if pending:
                log.warning("background jobs still running at shutdown are cut off",
                            extra={"jobs": len(pending)})
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
