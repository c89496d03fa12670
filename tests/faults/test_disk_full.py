"""Disk full (or a file size limit) under a running ``lookout serve`` on SQLite.

While the database file cannot grow, ingest answers 503 with Retry-After and
a JSON body naming the problem (never a 500 or a traceback), ``/readyz``
says why it is not ready, and the log says it once, not once per request.
Once the condition is lifted, ingest works again without a restart and every
acknowledged record is stored exactly once.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from collector.normalize import LOG_COLUMNS, RowBatch
from collector.writer import BatchWriter
from lookout.db import create_engine
from lookout.errors import StorageUnavailable
from lookout.migrate import upgrade
from tests.support.disk_faults import FileSizeLimit, SmallDisk
from tests.support.server import LookoutServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

BATCH = 2000  # records per request: about 600 kB, more than any limit below leaves room for


class Ingest:
    """Sends tagged log batches and remembers which ones were acknowledged."""

    def __init__(self, server: LookoutServer) -> None:
        dsn = urlsplit(server.create_project())
        self.url = f"{server.url}/api{dsn.path}/ingest"
        self.headers = {"X-Lookout-Key": dsn.username or ""}
        self.acked: list[str] = []

    def send(self, tag: str) -> httpx.Response:
        logs = [{"message": f"{tag} {i} " + "x" * 200} for i in range(BATCH)]
        resp = httpx.post(self.url, headers=self.headers, timeout=60,
                          json={"resource": {"service": "disk"}, "logs": logs})
        if resp.status_code == 202:
            assert resp.json()["accepted"] == BATCH
            self.acked.append(tag)
        return resp


def stored_tags(db: Path) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT message FROM logs").fetchall()
    return Counter(m.split(" ", 1)[0] for (m,) in rows)


def run_fault(server: LookoutServer, db: Path, impose, lift, cause: str) -> None:
    ingest = Ingest(server)
    assert ingest.send("before").status_code == 202
    impose()
    for n in range(3):
        resp = ingest.send(f"during{n}")
        assert resp.status_code == 503, resp.text
        assert int(resp.headers["retry-after"]) > 0
        error = resp.json()["error"]
        assert cause in error and "retry later" in error, error
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 503 and cause in ready.json()["error"]
    assert httpx.get(server.url + "/healthz").status_code == 200  # alive, just not writing
    lift()
    resp = ingest.send("after")  # no restart: the next write simply works
    assert resp.status_code == 202, resp.text
    assert httpx.get(server.url + "/readyz").status_code == 200
    wait_until(lambda: "database writes work again" in server.log())
    log = server.log()
    assert log.count("database writes are failing") == 1, log
    assert cause in log and "Traceback" not in log
    server.stop()
    counts = stored_tags(db)
    assert counts == Counter({tag: BATCH for tag in ingest.acked}), counts
    assert ingest.acked == ["before", "after"]


def test_file_size_limit(server_factory, tmp_path: Path) -> None:
    server: LookoutServer = server_factory()
    db = tmp_path / "lookout.db"
    assert server.process is not None
    limit = FileSizeLimit(server.process.pid, db.stat().st_size + 64 * 1024)
    run_fault(server, db, limit.apply, limit.lift, "cannot be written")


def test_disk_full(server_factory, tmp_path: Path) -> None:
    if not SmallDisk.available(tmp_path / "probe"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    disk = SmallDisk(tmp_path / "disk")
    disk.mount()
    try:
        db = disk.path / "lookout.db"
        server: LookoutServer = server_factory(db_url=f"sqlite+aiosqlite:///{db}")
        run_fault(server, db, disk.fill, disk.free, "disk holding the database is full")
    finally:
        disk.unmount()


async def test_read_only_database_file_is_named(tmp_path: Path) -> None:
    """SQLite opened read-only (as with a read-only file or mount): the cause, not a 500."""
    db = tmp_path / "lookout.db"
    writable = create_engine(f"sqlite+aiosqlite:///{db}")
    await upgrade(writable)
    await writable.dispose()
    engine = create_engine(f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true")
    writer = BatchWriter(engine)
    writer.start()
    values = dict(project_id=1, ts=time.time(), received_at=time.time(), service="s",
                  environment="", release="", host="", request_id=None, trace_id=None,
                  attributes="{}", level=20, logger="", message="m")
    try:
        with pytest.raises(StorageUnavailable) as info:
            await writer.submit(RowBatch(logs=[tuple(values[c] for c in LOG_COLUMNS)]))
        assert "the database file or its directory is read-only" in str(info.value)
        assert writer.failing(within=60) == str(info.value)  # what /readyz reports
    finally:
        await writer.stop()
        await engine.dispose()
