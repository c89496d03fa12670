"""Apply Alembic migrations, safely when several instances start at once.

On PostgreSQL the upgrade runs while holding a session advisory lock, so a
second ``lookout serve`` starting at the same moment waits, then finds
nothing left to do. On SQLite an exclusive ``flock`` on a sidecar file
(``<db>.migrate.lock``) does the same for processes sharing the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
ADVISORY_LOCK_ID = 0x4C4F4F4B  # "LOOK"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    is_pg = connection.dialect.name == "postgresql"
    if is_pg:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_ID})
        connection.commit()
    try:
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
    finally:
        if is_pg:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_ID})
            connection.commit()


async def upgrade(engine: AsyncEngine) -> None:
    async with _sqlite_file_lock(engine.url), engine.connect() as conn:
        await conn.run_sync(_upgrade)


@contextlib.asynccontextmanager
async def _sqlite_file_lock(url: URL) -> AsyncIterator[None]:
    database = url.database if url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+b") as lock:  # noqa: ASYNC230 - local, instant
        while True:  # poll without blocking the event loop (others may hold it in-process)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def current_heads(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda c: set(MigrationContext.configure(c).get_current_heads()))


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


async def is_lookout_database(engine: AsyncEngine) -> bool:
    """True when ``engine`` points at a database Lookout has migrated at least once.

    Checked before anything connects, so a command run from the wrong directory
    does not create an empty ``lookout.db`` there (SQLite creates the file on
    connect) nor install tables in an unrelated PostgreSQL database.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            return False
    try:
        return bool(await current_heads(engine))
    except Exception as error:
        if _is_missing_database(error):
            return False
        raise


def _is_missing_database(error: BaseException | None) -> bool:
    """PostgreSQL's SQLSTATE 3D000 (invalid_catalog_name), however SQLAlchemy wrapped it."""
    seen = 0
    while error is not None and seen < 10:
        if getattr(error, "sqlstate", None) == "3D000":
            return True
        error = getattr(error, "orig", None) or error.__cause__
        seen += 1
    return False
