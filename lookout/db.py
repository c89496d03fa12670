"""Database engine and the shared SQLAlchemy ``MetaData``.

One code path serves SQLite (the embedded default) and PostgreSQL. SQLite is
put in WAL mode with ``synchronous=FULL`` (a commit survives power loss, which
is what "acknowledged only once durably stored" means) and a busy timeout, so
readers never block the single writer and the writer waits instead of failing
when another process briefly holds the lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

# Named constraints make Alembic migrations (and SQLite batch mode) deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A pooled PostgreSQL connection idle longer than this is pinged before reuse
# (firewalls and NAT drop idle TCP connections without telling either end).
# Fresher ones are only checked for a closed socket, which costs no round trip:
# a server restart closes every connection, and asyncpg notices at once.
PING_AFTER_IDLE_SECONDS = 30.0


def is_sqlite_url(url: str) -> bool:
    return url.startswith("sqlite")


def describe_database(url: str) -> str:
    """Where ``url`` points, for people: the absolute file for SQLite, host/name otherwise.

    Never the password: this goes into logs and error messages.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        return database if database in ("", ":memory:") else str(Path(database).resolve())
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine with the per-dialect settings Lookout relies on."""
    if is_sqlite_url(url):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                     **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_timeout", 10)
    connect_args = kwargs.pop("connect_args", {})
    # A hung server must not hang ingest forever: statements give up and the
    # writer answers 503 so clients retry.
    connect_args.setdefault("command_timeout", 15)
    connect_args.setdefault("timeout", 5)
    engine = create_async_engine(url, connect_args=connect_args, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine.sync_engine, "checkout", _check_pg_connection)
        event.listen(engine.sync_engine, "checkin", _mark_idle_since)
    return engine


def _mark_idle_since(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _check_pg_connection(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Cheap pre-ping: SQLAlchemy's costs three round trips (BEGIN, ping, ROLLBACK)
    on every checkout, as much as the request-ID lookup itself. Raising
    ``DisconnectionError`` makes the pool replace the connection and retry."""
    if dbapi_connection.driver_connection.is_closed():
        # The server went away (restart, failover): every pooled connection is dead.
        raise exc.InvalidatePoolError("connection closed by the server")
    idle_since = record.info.get("idle_since")
    if idle_since is not None and time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
        try:
            dbapi_connection.ping()
        except Exception as error:  # any failure means "replace it"
            raise exc.DisconnectionError(str(error)) from error


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads of one statement each.

    On PostgreSQL it runs in autocommit: a lone SELECT needs no transaction,
    and skipping it saves the BEGIN and ROLLBACK round trips. SQLite's driver
    starts no transaction for a SELECT anyway.
    """
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def database_unavailable(error: BaseException) -> bool:
    """True when ``error`` means the database could not be reached or used (an outage:
    down, restarting, disk full, locked), not a bug in the statement. The writer
    fails a whole group on it instead of retrying job by job; HTTP answers 503."""
    # exc.TimeoutError: no pooled connection came free in time (the database hangs
    # or is swamped); retrying later is the answer, as for an outage.
    if isinstance(error, (OSError, ConnectionError, TimeoutError, sqlite3.OperationalError,
                          exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    name = type(error).__name__  # asyncpg's InterfaceError: "connection is closed"
    return type(error).__module__.startswith("asyncpg") and (
        "Connection" in name or name == "InterfaceError")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Only takes effect on a database without tables (a new one): lookout.sqlite_space.
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sync_url(url: str) -> str:
    """The URL as given; Alembic runs on the async engine through ``run_sync``."""
    return make_url(url).render_as_string(hide_password=False)


def now() -> float:
    """Wall-clock epoch seconds; every stored timestamp uses this unit."""
    return time.time()
