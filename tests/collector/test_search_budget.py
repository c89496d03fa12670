"""The search time budget (collector.search_budget) and term limits, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import exc, text

from collector import queries
from collector import tables as t
from collector.queries import LogQuery, QueryError, check_terms
from collector.search_budget import INTERRUPT_REPEAT, SearchLimits, SearchTooExpensive, time_budget

MARGIN = 2.0  # seconds, for a loaded machine; the unbounded statements run for minutes
# Counts to a billion on either database: minutes unless something stops it.
ENDLESS = text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
               "WHERE x < 1000000000) SELECT count(*) FROM c")
SHORT = text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
             "WHERE x < 200000) SELECT count(*) FROM c")
NEAR_MISS = "a" * 997 + "b"


async def _within(seconds: float, coro) -> float:
    started = time.monotonic()
    await coro
    took = time.monotonic() - started
    assert took < seconds, took
    return took


async def _run_in_budget(engine, budget: float, *statements) -> None:
    async with engine.connect() as conn, time_budget(conn, budget):
        for statement in statements:
            await conn.execute(statement)


async def test_a_statement_over_budget_is_stopped(engine):
    with pytest.raises(SearchTooExpensive, match="0.2 s search budget"):
        await _within(0.2 + MARGIN, _run_in_budget(engine, 0.2, ENDLESS))
    # The pooled connection is fine, and no interrupt is left behind for its next user.
    async with engine.connect() as conn:
        assert (await conn.execute(SHORT)).scalar_one() == 200_000


async def test_the_budget_covers_every_statement_of_a_search(engine):
    """A deadline passing between two statements still stops the second one."""
    async with engine.connect() as conn:
        with pytest.raises(SearchTooExpensive):
            async with time_budget(conn, 0.05):
                await conn.execute(text("SELECT 1"))
                deadline = time.monotonic() + 0.05 + 4 * INTERRUPT_REPEAT
                while time.monotonic() < deadline:  # the timer fires while nothing runs
                    await asyncio.sleep(0.01)
                await _within(INTERRUPT_REPEAT + MARGIN, conn.execute(ENDLESS))


async def test_fast_statements_and_other_errors_are_untouched(engine):
    async with engine.connect() as conn, time_budget(conn, 5.0):
        assert (await conn.execute(SHORT)).scalar_one() == 200_000
    with pytest.raises(exc.DBAPIError) as raised:
        await _run_in_budget(engine, 5.0, text("SELECT no_such_column FROM logs"))
    assert not isinstance(raised.value, SearchTooExpensive)


async def _hostile_rows(engine, n: int) -> float:
    now = time.time()
    message = ("a" * 900 + "b") * 18  # every trigram of NEAR_MISS, never 997 a's in a row
    async with engine.begin() as conn:
        await conn.execute(t.logs.insert(), [
            dict(project_id=1, ts=now - 60 + i / 100, received_at=now, service="api",
                 environment="", release="", host="", request_id=None, trace_id=None,
                 attributes="{}", level=20, logger="", message=message) for i in range(n)])
    return now


async def test_search_and_count_of_a_near_miss_term_stop_at_the_budget(engine):
    now = await _hostile_rows(engine, 400)
    limits = SearchLimits(time_budget=0.2, max_term_length=1000)
    q = LogQuery(terms=(NEAR_MISS,), since=now - 3600, until=now + 1)
    with pytest.raises(SearchTooExpensive):
        await _within(0.2 + MARGIN, queries.search_logs(engine, q, limits))
    with pytest.raises(SearchTooExpensive):
        await _within(0.2 + MARGIN, queries.count_logs(engine, q, now - 3600, now + 1, 60,
                                                       10_000, limits))
    # The engine still searches (with the default budget: every row here is 16 KB).
    items, _ = await queries.search_logs(engine, LogQuery(terms=("aab",), limit=5))
    assert len(items) == 5


@pytest.mark.parametrize(("terms", "error"), [
    (("x" * 257,), "search term longer than 256 characters (257 given)"),
    (tuple(f"w{i}" for i in range(11)), "too many search terms: 11 given, at most 10"),
])
def test_term_limits(terms, error):
    with pytest.raises(QueryError) as raised:
        check_terms(terms, SearchLimits())
    assert str(raised.value) == error
    check_terms(terms[:10] if len(terms) > 1 else ("x" * 256,), SearchLimits())
