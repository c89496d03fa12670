"""Bounding the work of one log search: a time budget and limits on its terms.

A substring search costs about rows scanned x message length x term length,
and neither database can bound that from the index alone: 2,000 stored 16 KB
messages and a 998-character term that almost matches them ran 31-40 s on
SQLite (``LIKE`` compares up to the whole term at every position of every
message) and ran into asyncpg's 15 s command timeout on PostgreSQL (a 503, as
if the database were down). So every search gets a time budget, enforced by
the database, and an over-budget search is an answer ("too expensive, narrow
the time range"), not an outage:

- PostgreSQL: ``SET LOCAL statement_timeout`` in the search's transaction; the
  server cancels the statement (SQLSTATE 57014) and checks for it inside the
  ``LIKE`` matcher, so the answer comes at the budget.
- SQLite has no statement timeout. A progress handler would call into Python
  every few hundred VM steps on aiosqlite's worker thread (taking the GIL
  each time, and slowing every search); instead a timer on the event loop
  calls ``sqlite3_interrupt`` (thread-safe, free until it fires) at the
  deadline. SQLite checks the flag between rows, so the search stops within
  one row's ``LIKE`` after the budget.

Term limits are checked before any query runs (``collector.queries``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from lookout.settings import Settings

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout
PG_MAX_MS = 2**31 - 1  # the largest statement_timeout PostgreSQL accepts
INTERRUPT_REPEAT = 0.05  # seconds between repeated interrupts once SQLite's budget is spent


@dataclasses.dataclass(frozen=True, slots=True)
class SearchLimits:
    """What one search may cost (``LOOKOUT_SEARCH_*``; defaults as in Settings)."""

    time_budget: float = 2.0
    max_term_length: int = 256
    max_terms: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> SearchLimits:
        return cls(time_budget=settings.search_time_budget,
                   max_term_length=settings.search_max_term_length,
                   max_terms=settings.search_max_terms)


DEFAULT_LIMITS = SearchLimits()


class SearchTooExpensive(Exception):
    """The search ran out of its time budget; answered 422, never 500 or 503."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        super().__init__(f"query too expensive: stopped at the {budget:g} s search budget; "
                         "narrow the time range or add filters (service, level)")


@asynccontextmanager
async def time_budget(conn: AsyncConnection, seconds: float) -> AsyncIterator[None]:
    """Stop the statements run on ``conn`` inside the block once ``seconds`` have passed.

    Raises :class:`SearchTooExpensive` when the database stopped one. On
    PostgreSQL ``conn`` must be in a transaction the block belongs to (the
    setting is ``LOCAL``); the connection stays usable either way.
    """
    if conn.dialect.name == "postgresql":
        # An integer in milliseconds: at least 1 (0 means "no limit"), at most PostgreSQL's.
        await conn.exec_driver_sql(
            f"SET LOCAL statement_timeout = {min(max(1, int(seconds * 1000)), PG_MAX_MS)}")
        try:
            yield
        except exc.DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == QUERY_CANCELED:
                raise SearchTooExpensive(seconds) from None
            raise
        return
    sqlite = (await conn.get_raw_connection()).driver_connection._conn
    loop = asyncio.get_running_loop()
    fired = False
    timer: asyncio.TimerHandle

    def interrupt() -> None:
        nonlocal fired, timer
        fired = True
        sqlite.interrupt()
        # An interrupt between two statements is forgotten when the next one starts: repeat
        # it until the block ends, so a later statement of the same search stops too.
        timer = loop.call_later(INTERRUPT_REPEAT, interrupt)

    # Called on the loop's thread, not through aiosqlite's queue (busy running the query);
    # aiosqlite's own ``interrupt()`` is a coroutine around this same call. Synchronous
    # here, so once ``timer.cancel()`` ran no interrupt can reach the connection's next user.
    timer = loop.call_later(seconds, interrupt)
    try:
        yield
    except exc.OperationalError as error:
        if fired and "interrupted" in str(error.orig):
            raise SearchTooExpensive(seconds) from None
        raise
    finally:
        timer.cancel()
