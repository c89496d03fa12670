"""A throw-away PostgreSQL database for one ``./run-tests`` run.

``./run-tests`` calls ``python -m tests.support.testdb create`` when
``LOOKOUT_TEST_DATABASE_URL`` is not set: if a PostgreSQL answers on
127.0.0.1:5432 (user ``postgres``, trust auth, as on the development machines)
it creates an empty database and prints its URL; the script drops it again with
``drop URL`` when pytest ends. When nothing answers (and, as root, starting
Debian's cluster with ``pg_ctlcluster`` did not help) it prints nothing and
exits 0, and the PostgreSQL tests skip with their reason.

Why here and not in conftest: a plain ``pytest`` run keeps the documented
behaviour (PostgreSQL tests run exactly when the variable is set), while the
README's one test command runs the whole suite on a machine that has the
database.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import sys
import time

import asyncpg
from sqlalchemy.engine import make_url

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"
START_DEADLINE = 60.0


async def _connect(database: str = "postgres") -> asyncpg.Connection:
    return await asyncpg.connect(host=HOST, port=PORT, user=USER, database=database, timeout=5)


async def _answers() -> bool:
    try:
        conn = await _connect()
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _start_local_cluster() -> None:
    """As root, start Debian's main cluster if it is installed but stopped."""
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        return
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if not versions:
        return
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


async def create() -> str | None:
    if not await _answers():
        _start_local_cluster()
        deadline = time.monotonic() + START_DEADLINE
        while not await _answers():
            if time.monotonic() > deadline or os.geteuid() != 0:
                return None
            await asyncio.sleep(0.5)
    name = f"lookout_test_{int(time.time())}_{os.getpid()}"
    conn = await _connect()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{USER}@{HOST}:{PORT}/{name}"


async def drop(url: str) -> None:
    name = make_url(url).database
    conn = await _connect()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        # Per-test databases are clones named after it; a killed run may leave some.
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                f"{name}\\_%")
        for row in rows:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["create"] and len(argv) == 1:
        url = asyncio.run(create())
        if url:
            print(url)
        return 0
    if argv[:1] == ["drop"] and len(argv) == 2:
        asyncio.run(drop(argv[1]))
        return 0
    print("usage: python -m tests.support.testdb create | drop URL", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
