"""Per-project ingest rate limit (error events per minute), shared by all instances.

The budget of a project for the current minute lives in one ``rate_counters``
row. Instead of writing that row for every event, each instance *leases* a
slice of the budget (``lease`` events) with one atomic upsert that refuses to
go over the limit (``... DO UPDATE SET count = count + n WHERE count + n <=
limit``) and hands out events from its lease in memory. So:

- the limit is never exceeded, whatever the number of instances;
- the database sees one small statement per ``lease`` events, not per event
  (PostgreSQL commits it with ``synchronous_commit = off``: losing a counter in
  a crash only lets a few more events in);
- the price: events leased by one instance but not used by the end of the
  minute are lost to the others, so with N instances up to ``(N - 1) * lease``
  events per minute may be refused below the limit. ``lease`` is 5 % of the
  limit (at most 100), so this stays small.

When the database cannot be reached the limiter lets events through: the
writer will answer 503 anyway, and a limiter must not be the reason data is
refused.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.issue_tables import rate_counters

log = logging.getLogger("lookout.ratelimit")
KEEP_MINUTES = 60


@dataclass(frozen=True, slots=True)
class Decision:
    granted: int
    """How many of the requested events may be stored."""
    retry_after: int
    """Seconds until the next minute, when the budget refills."""


class RateLimiter:
    def __init__(self, engine: AsyncEngine, per_minute: int, *, lease: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.per_minute = per_minute
        self.lease = lease or max(1, min(100, per_minute // 20))
        self._clock = clock
        self._leases: dict[int, tuple[int, int]] = {}  # project -> (minute, events left)
        self._exhausted: dict[int, int] = {}  # project -> minute known to be used up
        self._locks: dict[int, asyncio.Lock] = {}
        self._last_cleanup = 0

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    async def acquire(self, project_id: int, wanted: int) -> Decision:
        """Take up to ``wanted`` events from the project's budget for this minute."""
        current = self._clock()
        minute = int(current // 60) * 60
        retry_after = max(1, math.ceil(minute + 60 - current))
        if not self.enabled or wanted <= 0:
            return Decision(wanted, retry_after)
        if self._exhausted.get(project_id) == minute:
            return Decision(0, retry_after)
        lock = self._locks.setdefault(project_id, asyncio.Lock())
        async with lock:
            lease_minute, left = self._leases.get(project_id, (minute, 0))
            if lease_minute != minute:
                left = 0
            while left < wanted:
                got = await self._take(project_id, minute, max(self.lease, wanted - left))
                if got == 0:
                    self._exhausted[project_id] = minute
                    break
                left += got
            granted = min(wanted, left)
            self._leases[project_id] = (minute, left - granted)
        return Decision(granted, retry_after)

    async def _take(self, project_id: int, minute: int, wanted: int) -> int:
        """Atomically add up to ``wanted`` to the shared counter without passing the limit."""
        try:
            async with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(text("SET LOCAL synchronous_commit = off"))
                await self._cleanup(conn, minute)
                want = min(wanted, self.per_minute)
                for _ in range(3):
                    if await self._add(conn, project_id, minute, want):
                        return want
                    used = (await conn.execute(select(rate_counters.c.count).where(
                        rate_counters.c.project_id == project_id,
                        rate_counters.c.minute == minute))).scalar() or 0
                    want = min(wanted, self.per_minute - used)
                    if want <= 0:
                        return 0
                return 0
        except Exception as exc:  # noqa: BLE001 - fail open, see the module docstring
            log.warning("rate limit counter unavailable; not limiting",
                        extra={"error": str(exc)[:200]})
            return wanted

    async def _add(self, conn: AsyncConnection, project_id: int, minute: int, n: int) -> bool:
        ins = (postgresql.insert(rate_counters) if conn.dialect.name == "postgresql"
               else sqlite.insert(rate_counters))
        c = rate_counters.c
        stmt = ins.values(project_id=project_id, minute=minute, count=n).on_conflict_do_update(
            index_elements=["project_id", "minute"], set_={"count": c.count + ins.excluded["count"]},
            where=c.count + ins.excluded["count"] <= self.per_minute).returning(c.count)
        return (await conn.execute(stmt)).first() is not None

    async def _cleanup(self, conn: AsyncConnection, minute: int) -> None:
        if minute - self._last_cleanup < 600:
            return
        self._last_cleanup = minute
        await conn.execute(delete(rate_counters).where(
            rate_counters.c.minute < minute - KEEP_MINUTES * 60))


async def limit_errors(limiter: RateLimiter | None, project_id: int,
                       errors: list[Any]) -> tuple[int, dict[str, str]]:
    """Cut ``errors`` (in place) to the project's budget.

    Returns how many were dropped and the headers that tell an SDK to back off
    (``Retry-After`` and Sentry's ``X-Sentry-Rate-Limits``; empty when none were).
    """
    if limiter is None or not limiter.enabled or not errors:
        return 0, {}
    decision = await limiter.acquire(project_id, len(errors))
    dropped = len(errors) - decision.granted
    if dropped <= 0:
        return 0, {}
    del errors[decision.granted:]
    return dropped, {"Retry-After": str(decision.retry_after),
                     "X-Sentry-Rate-Limits": f"{decision.retry_after}:error;default:project"}
