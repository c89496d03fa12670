"""Retention removes old rows in bounded batches and keeps recent ones."""

from __future__ import annotations

import time

import msgspec
from sqlalchemy import func, select

from collector import tables
from collector.retention import purge_older_than


async def test_purge_removes_only_old_rows(client, project, services):
    now = time.time()
    old = [{"message": f"old{i}", "ts": now - 40 * 86400} for i in range(23)]
    new = [{"message": f"new{i}", "ts": now - 60} for i in range(5)]
    resp = await client.post(f"/api/{project.id}/ingest", headers={"X-Lookout-Key":
                                                                   project.public_key},
                             content=msgspec.json.encode({"logs": old + new, "requests": [
                                 {"request_id": "r", "method": "GET", "route": "/",
                                  "status": 200, "duration_ms": 1, "ts": now - 40 * 86400}]}))
    assert resp.json()["accepted"] == 29
    deleted = await purge_older_than(services.engine, now - 30 * 86400, batch_rows=5)
    assert deleted["logs"] == 23 and deleted["request_records"] == 1
    assert deleted["log_rollups"] >= 1 and deleted["request_rollups"] == 1
    async with services.engine.connect() as conn:
        left = list((await conn.execute(select(tables.logs.c.message))).scalars())
        rollups = (await conn.execute(select(func.sum(tables.log_rollups.c.count)))).scalar()
    assert sorted(left) == sorted(m["message"] for m in new)
    assert rollups == 5
    assert (await services.run_retention())["logs"] == 0


async def test_purge_removes_old_spans(services, project):
    from collector.normalize import Limits, RowBatch
    from collector.spans import Labels, SpanIn, span_row
    from collector.store import write_rows

    now = time.time()
    rows = [span_row(project.id, SpanIn(trace_id="ab" * 16, span_id=f"{i:016x}", start=ts,
                                        end=ts + 0.1), Labels(), now, Limits(), "otlp")
            for i, ts in enumerate([now - 40 * 86400] * 3 + [now - 60])]
    async with services.engine.begin() as conn:
        await write_rows(conn, RowBatch(spans=rows))
    deleted = await purge_older_than(services.engine, now - 30 * 86400, batch_rows=2)
    assert deleted["spans"] == 3
    async with services.engine.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(tables.spans))).scalar()
    assert left == 1
