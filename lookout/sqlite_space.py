"""SQLite's file shrinks again after retention, and a consistent copy is one command away.

SQLite never gives freed pages back to the file system by itself: after
retention deletes a week of logs the file stays as large as before. New
databases are created with ``auto_vacuum=INCREMENTAL`` (set on every
connection in :func:`lookout.db._sqlite_on_connect`; it takes effect only on
a database without tables), and after each retention run :func:`reclaim`
releases free pages with ``PRAGMA incremental_vacuum(N)`` a step at a time:
each step is a short write transaction, so ingest waits for one step at
most, never for the whole reclaim. A database created before that has
``auto_vacuum=NONE``; ``lookout vacuum`` converts it once (a full ``VACUUM``,
which rewrites the file and blocks writers while it runs).

Backups use ``VACUUM INTO``: one read transaction, so the copy is exactly the
database as of its start, while writers go on (WAL mode); the copy is
compacted too. SQLite's online-backup API would restart whenever another
connection writes, which under steady ingest may never finish.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

INCREMENTAL = 2  # PRAGMA auto_vacuum values: 0 none, 1 full, 2 incremental
RECLAIM_STEP_PAGES = 2_000  # 8 MB of 4 KiB pages per write transaction
RECLAIM_BUDGET_SECONDS = 30.0


async def auto_vacuum_mode(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("PRAGMA auto_vacuum"))).scalar() or 0)


async def reclaim(engine: AsyncEngine, step_pages: int = RECLAIM_STEP_PAGES,
                  budget_seconds: float = RECLAIM_BUDGET_SECONDS) -> int:
    """Give free pages back to the file system, a step at a time; returns pages freed.

    Does nothing on PostgreSQL or on a database without incremental auto-vacuum.
    Stops after ``budget_seconds``; the rest goes at the next retention run.
    """
    if engine.dialect.name != "sqlite" or await auto_vacuum_mode(engine) != INCREMENTAL:
        return 0
    freed = 0
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            free = await _free_pages(conn)
            if free == 0:
                break
            # Through executescript: Python's sqlite3 ``execute`` steps a statement that
            # returns no rows once, and each step of incremental_vacuum frees one page.
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.executescript(f"PRAGMA incremental_vacuum({int(min(free, step_pages))})")
            freed += free - await _free_pages(conn)
            await conn.commit()
        await asyncio.sleep(0)  # let queued writes in between steps
    return freed


async def _free_pages(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("PRAGMA freelist_count"))).scalar() or 0)


def _sqlite_path(url_database: str | None) -> Path:
    if not url_database or url_database == ":memory:":
        raise ValueError("an in-memory database cannot be backed up")
    return Path(url_database)


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    bytes: int
    seconds: float


def backup(database: str, dest: Path) -> BackupResult:
    """``VACUUM INTO dest``: a consistent, compacted copy while the database is in use."""
    source = _sqlite_path(database)
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; give a new file name")
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"no directory {dest.parent}")
    started = time.monotonic()
    if not source.is_file():
        raise FileNotFoundError(f"no database file {source}")
    conn = sqlite3.connect(str(source), timeout=30)
    try:
        conn.execute("VACUUM INTO ?", (str(dest),))
    finally:
        conn.close()
    check = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
    try:
        result = check.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        check.close()
    if result != "ok":
        raise RuntimeError(f"the copy failed its integrity check: {result}")
    return BackupResult(dest, dest.stat().st_size, time.monotonic() - started)


def convert_to_incremental(database: str) -> float:
    """Switch an older database to incremental auto-vacuum (one full VACUUM); seconds taken."""
    started = time.monotonic()
    conn = sqlite3.connect(str(_sqlite_path(database)), timeout=60, isolation_level=None)
    try:
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
    finally:
        conn.close()
    return time.monotonic() - started
