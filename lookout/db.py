"""Database engine and the shared SQLAlchemy ``MetaData``.

One code path serves SQLite (the embedded default) and PostgreSQL. SQLite is
put in WAL mode with ``synchronous=FULL`` (a commit survives power loss, which
is what "acknowledged only once durably stored" means) and a busy timeout, so
readers never block the single writer and the writer waits instead of failing
when another process briefly holds the lock.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def is_sqlite_url(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine with the per-dialect settings Lookout relies on."""
    if is_sqlite_url(url):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                     **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", 10)
    connect_args = kwargs.pop("connect_args", {})
    # A hung server must not hang ingest forever: statements give up and the
    # writer answers 503 so clients retry.
    connect_args.setdefault("command_timeout", 15)
    connect_args.setdefault("timeout", 5)
    return create_async_engine(url, connect_args=connect_args, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
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
