"""Engine settings: the cheap pre-ping on PostgreSQL and autocommit reads."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lookout import db
from lookout.db import read_connection


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_read_connection_runs_each_statement_on_its_own(engine: AsyncEngine) -> None:
    """On PostgreSQL no transaction wraps the reads: now() moves between statements."""
    async with read_connection(engine) as conn:
        first = (await conn.execute(text("SELECT CURRENT_TIMESTAMP"))).scalar_one()
        second = (await conn.execute(text("SELECT CURRENT_TIMESTAMP"))).scalar_one()
        if engine.dialect.name == "postgresql":
            assert second > first
        else:
            assert second >= first
    async with engine.connect() as conn:  # the pool hands back a transactional connection
        first = (await conn.execute(text("SELECT CURRENT_TIMESTAMP"))).scalar_one()
        second = (await conn.execute(text("SELECT CURRENT_TIMESTAMP"))).scalar_one()
        if engine.dialect.name == "postgresql":
            assert second == first


@pytest.fixture
def pg_engine(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name != "postgresql":
        pytest.skip("connection checks on checkout are PostgreSQL's (SQLite has no socket)")
    return engine


async def test_closed_connection_is_replaced_without_a_round_trip(pg_engine: AsyncEngine) -> None:
    """A pooled connection whose socket closed is swapped for a fresh one on checkout."""
    old_pid = await _backend_pid(pg_engine)
    async with pg_engine.connect() as conn:
        raw = await conn.get_raw_connection()
        raw.driver_connection.terminate()
    # Checkout saw the closed socket: the query below runs on a new backend, no error.
    assert await _backend_pid(pg_engine) != old_pid


async def test_idle_connection_is_pinged_and_replaced_when_dead(
        pg_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed server-side while idle (socket not yet seen closed): the ping finds out."""
    old_pid = await _backend_pid(pg_engine)
    other = db.create_engine(str(pg_engine.url.render_as_string(hide_password=False)))
    try:
        async with other.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                                       {"pid": old_pid})).scalar_one()
    finally:
        await other.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert await _backend_pid(pg_engine) != old_pid


def test_outages_are_told_from_bugs() -> None:
    """An outage (answered 503, retried) versus a statement's own error (a bug)."""
    from sqlalchemy import exc

    assert db.database_unavailable(ConnectionRefusedError(111, "refused"))
    assert db.database_unavailable(exc.TimeoutError("QueuePool limit reached"))  # pool starved
    assert db.database_unavailable(exc.OperationalError("x", {}, Exception("disk I/O error")))
    assert not db.database_unavailable(exc.IntegrityError("x", {}, Exception("duplicate")))
    assert not db.database_unavailable(OverflowError("int too large"))
    assert not db.database_unavailable(ValueError("bad"))
