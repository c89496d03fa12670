"""Retention removes old rows in bounded batches and keeps recent ones."""

from __future__ import annotations

import time

import msgspec
from sqlalchemy import func, select

from collector import tables
from collector.retention import purge_older_than
from lookout.services import Services


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


DAY = 86400
WORDS = {5: "soon", 10: "later", 100: "long ago"}  # grouping ignores numbers in messages
DAYS = {"logs": 14, "errors": 90, "metrics": 30, "requests": 30}


async def _ingest_aged(client, project, at: float, tag: str) -> None:
    """Three rows of every kind at several ages (days before ``at``), labelled by age."""
    body: dict[str, list] = {"logs": [], "errors": [], "metrics": [], "requests": []}
    for age in (10, 20, 70):
        body["logs"] += [{"message": f"{tag}-{age}", "ts": at - age * DAY} for _ in range(3)]
    for age in (5, 10, 100):
        body["errors"] += [{"message": f"{tag} failed {WORDS[age]}", "ts": at - age * DAY - i,
                            "attributes": {"user.id": f"u{age}"}} for i in range(3)]
    for age in (20, 40):
        body["metrics"] += [{"name": f"m{age}", "kind": "counter", "value": 1,
                             "ts": at - age * DAY} for _ in range(3)]
        body["requests"] += [{"request_id": f"{tag}-{age}-{i}", "method": "GET", "route": "/",
                              "status": 200, "duration_ms": 1, "ts": at - age * DAY}
                             for i in range(3)]
    resp = await client.post(f"/api/{project.id}/ingest", headers={"X-Lookout-Key":
                                                                   project.public_key},
                             content=msgspec.json.encode(body))
    assert resp.json()["accepted"] == 30, resp.text


async def _ages(engine, table, column, project_id, at: float) -> list[int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(column).where(table.c.project_id == project_id))).all()
    return sorted({round((at - row[0]) / DAY) for row in rows})


async def test_retention_per_kind_and_per_project(client, services):
    """Kinds keep their own periods; a project's override wins over the setting, both ways;
    rows of other projects between two cutoffs survive small batches; issues outlive their
    events; a later clock removes what has aged since."""
    from collector.issue_tables import issue_hourly, issue_tags, issues
    from collector.retention import purge_expired
    from lookout.project_retention import get_retention, set_retention
    from lookout.projects import create_project

    at = time.time()
    plain = await create_project(services.engine, "plain")
    own = await create_project(services.engine, "own")
    await set_retention(services.engine, "own", {"logs": 60, "errors": 7})
    await _ingest_aged(client, plain, at, "plain")
    await _ingest_aged(client, own, at, "own")
    kept = await get_retention(services.engine, services.settings.replace(
        retention_logs_days=14, retention_errors_days=90), "own")
    assert [(r.kind, r.days, r.overridden) for r in kept] == [
        ("logs", 60, True), ("errors", 7, True), ("metrics", 30, False),
        ("requests", 30, False)]

    deleted = await purge_expired(services.engine, DAYS, at=at, batch_rows=2)
    engine = services.engine
    assert await _ages(engine, tables.logs, tables.logs.c.ts, plain.id, at) == [10]
    assert await _ages(engine, tables.logs, tables.logs.c.ts, own.id, at) == [10, 20]
    assert await _ages(engine, tables.errors, tables.errors.c.ts, plain.id, at) == [5, 10]
    assert await _ages(engine, tables.errors, tables.errors.c.ts, own.id, at) == [5]
    for table in (tables.metric_points, tables.request_records):
        for p in (plain, own):
            assert await _ages(engine, table, table.c.ts, p.id, at) == [20]
    assert await _ages(engine, tables.log_rollups, tables.log_rollups.c.minute, own.id,
                       at) == [10, 20]
    assert await _ages(engine, tables.request_rollups, tables.request_rollups.c.minute,
                       plain.id, at) == [20]
    assert deleted["logs"] == 6 + 3 and deleted["errors"] == 3 + 6
    assert deleted["metric_points"] == deleted["request_records"] == 6

    async with engine.connect() as conn:
        found = (await conn.execute(select(issues.c.id, issues.c.project_id, issues.c.title,
                                           issues.c.event_count, issues.c.first_seen))).all()
        hourly = {r.issue_id for r in (await conn.execute(select(issue_hourly))).all()}
        users = (await conn.execute(select(func.count()).select_from(issue_tags).where(
            issue_tags.c.key == "user"))).scalar()
    # One issue per message: all six stay, with their counts and first-seen, even the
    # three whose events are all gone; their hourly counts went with the events.
    assert len(found) == 6 and all(r.event_count == 3 for r in found)
    gone = {r.id for r in found if r.title.endswith(("long ago", "own failed later"))}
    assert len(gone) == 3 and hourly == {r.id for r in found} - gone
    assert min(r.first_seen for r in found) < at - 100 * DAY
    assert users == 6

    # Five days later (the injected clock): plain's 10-day-old logs are 15 days old.
    later = await purge_expired(services.engine, DAYS, at=at + 5 * DAY, batch_rows=2)
    assert later["logs"] == 3
    assert await _ages(engine, tables.logs, tables.logs.c.ts, plain.id, at) == []
    assert await _ages(engine, tables.logs, tables.logs.c.ts, own.id, at) == [10, 20]
    # Clearing the override puts the project back on the settings.
    await set_retention(services.engine, "own", {"logs": None})
    assert (await purge_expired(services.engine, DAYS, at=at + 5 * DAY))["logs"] == 6


async def test_kind_settings_default_to_retention_days(services):
    from lookout.settings import RETENTION_KINDS, Settings

    plain = Settings(retention_days=12)
    assert {plain.retention_for(k) for k in RETENTION_KINDS} == {12}
    assert Settings.from_env({"LOOKOUT_RETENTION_DAYS": "12",
                              "LOOKOUT_RETENTION_LOGS_DAYS": "3"}).retention_for("logs") == 3
    # The hourly job applies the kind settings (here: logs 3 days as of an injected clock).
    at = time.time()
    async with services.engine.begin() as conn:
        await conn.execute(tables.logs.insert(), [
            {"project_id": 1, "ts": at - age * DAY, "received_at": at, "level": 9,
             "message": str(age)} for age in (2, 4)])
    svc = Services.build(services.settings.replace(retention_logs_days=3),
                         engine=services.engine)
    assert (await svc.run_retention(at=at))["logs"] == 1
