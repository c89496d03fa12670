"""SQLite gives space back after retention, `lookout vacuum` converts older files, and
`lookout backup` copies a database consistently while a real server ingests."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from collector import tables
from collector.retention import purge_older_than
from lookout.db import create_engine
from lookout.migrate import upgrade
from lookout.sqlite_space import INCREMENTAL, auto_vacuum_mode, reclaim
from tests.support.server import LOOKOUT, start_server


def _cli(tmp_path: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env["LOOKOUT_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    return subprocess.run([LOOKOUT, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


def _pages(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("PRAGMA page_count").fetchone()[0],
                conn.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        conn.close()


async def test_new_database_shrinks_after_retention(tmp_path: Path) -> None:
    db = tmp_path / "lookout.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await upgrade(engine)
        assert await auto_vacuum_mode(engine) == INCREMENTAL
        old = time.time() - 40 * 86400
        async with engine.begin() as conn:
            await conn.execute(tables.logs.insert(), [
                {"project_id": 1, "ts": old + i, "received_at": old + i, "level": 9,
                 "message": f"line {i} " + "x" * 500} for i in range(20_000)])
        full, _ = _pages(db)
        deleted = await purge_older_than(engine, time.time() - 30 * 86400, batch_rows=5000)
        assert deleted["logs"] == 20_000
        _, free_before = _pages(db)
        assert free_before > full // 2  # deleted, but still in the file
        freed = await reclaim(engine, step_pages=500)
        pages, free = _pages(db)
        # Every page, counted exactly: each step frees its 500 pages, not one (Python's
        # sqlite3 steps a PRAGMA once; a step freed one page and was counted as 500).
        assert free == 0 and freed == free_before, (freed, free_before)
        assert pages < full // 2, (pages, full)
    finally:
        await engine.dispose()


async def test_older_database_is_converted_by_lookout_vacuum(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)  # tables before Lookout's first connection: auto_vacuum stays NONE
    raw.execute("CREATE TABLE before_lookout (x)")
    raw.close()
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await upgrade(engine)
        assert await auto_vacuum_mode(engine) == 0
        assert await reclaim(engine) == 0  # nothing to do without incremental mode
    finally:
        await engine.dispose()
    out = _cli(tmp_path, db, "vacuum")
    assert out.returncode == 0, out.stderr
    assert "now uses incremental auto-vacuum" in out.stdout
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL
    conn.close()


def test_backup_while_ingesting_holds_every_acknowledged_row(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv")
    try:
        dsn = urlsplit(server.create_project())
        url = f"{server.url}/api/{dsn.path.strip('/')}/ingest"
        acked: list[tuple[float, str]] = []
        stop = threading.Event()

        def load() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                tag = f"batch-{n}"
                req = urllib.request.Request(
                    url, method="POST", data=json.dumps(
                        {"logs": [{"message": f"{tag} {i}"} for i in range(50)]}).encode(),
                    headers={"X-Lookout-Key": dsn.username or "",
                             "Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    assert resp.status == 202
                acked.append((time.monotonic(), tag))

        worker = threading.Thread(target=load)
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while len(acked) < 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            started = time.monotonic()
            copy = tmp_path / "copy.db"
            out = server.cli("backup", str(copy))
            assert out.returncode == 0, out.stderr
            assert "a consistent copy" in out.stdout
            more = len(acked)
            deadline = time.monotonic() + 30
            while len(acked) < more + 5 and time.monotonic() < deadline:
                time.sleep(0.01)  # ingest went on during and after the backup
        finally:
            stop.set()
            worker.join(30)
        before = {tag for ts, tag in acked if ts < started}
        assert len(before) >= 20
        conn = sqlite3.connect(copy)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {m.split(" ")[0] for (m,) in conn.execute("SELECT message FROM logs")}
            counts = dict(conn.execute(
                "SELECT substr(message, 1, instr(message, ' ') - 1), count(*) FROM logs "
                "GROUP BY 1").fetchall())
        finally:
            conn.close()
        assert before <= stored, sorted(before - stored)[:5]
        assert all(counts[tag] == 50 for tag in stored)  # whole batches only: one snapshot
        again = server.cli("backup", str(copy))
        assert again.returncode == 1 and "already exists" in again.stderr
    finally:
        server.stop()


def test_backup_on_postgresql_says_how(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env["LOOKOUT_DATABASE_URL"] = "postgresql+asyncpg://postgres:pw@127.0.0.1:5432/lookout"
    out = subprocess.run([LOOKOUT, "backup", str(tmp_path / "x")], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "pg_dump --format=custom" in out.stderr and "pw" not in out.stderr


@pytest.mark.parametrize("command", ["backup", "vacuum"])
def test_no_database_no_backup(tmp_path: Path, command: str) -> None:
    args = [command, str(tmp_path / "copy.db")] if command == "backup" else [command]
    out = _cli(tmp_path, tmp_path / "missing.db", *args)
    assert out.returncode == 1 and "no Lookout database at" in out.stderr
    assert not (tmp_path / "missing.db").exists()
