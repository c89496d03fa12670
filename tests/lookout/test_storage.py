"""lookout.storage on both databases: rows and bytes per table, per day and per project, the
oldest day kept, the gauges; finished days are counted once and each refresh's cost is
bounded (an injected clock stands for the days passing)."""

from __future__ import annotations

import time

import msgspec
from sqlalchemy import event, text

from lookout import metrics
from lookout.projects import create_project
from lookout.storage import DAY, StorageStats, day_of

TODAY = day_of(time.time())
# A time of day that has already passed today (records from the future are refused),
# the same for every day: halfway between midnight and now, at most noon.
AT = max(0.001, min(43_200.0, (time.time() - TODAY) / 2))


async def _ingest(client, project, logs_per_day: dict[int, int], error: bool = True) -> None:
    """``n`` logs ``age`` days before today (at ``AT`` past midnight UTC) for each age, n
    in the mapping, and an error five days ago."""
    body = {"logs": [{"message": f"m{age}-{i}", "ts": TODAY - age * DAY + AT}
                     for age, n in logs_per_day.items() for i in range(n)],
            "errors": [{"message": "boom", "ts": TODAY + AT - 5 * DAY}] if error else []}
    resp = await client.post(f"/api/{project.id}/ingest", content=msgspec.json.encode(body),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202 and not resp.json()["rejected"], resp.text


def _day_counts(engine) -> list[str]:
    """Per-day counting statements run on ``engine`` (appended to as they happen)."""
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def spy(conn, cursor, statement, params, context, executemany):
        if "GROUP BY" in statement and "FROM logs" in statement:
            seen.append(statement)

    return seen


async def test_figures_per_table_day_and_project(client, services):
    shop = await create_project(services.engine, "shop")
    blog = await create_project(services.engine, "blog")
    await _ingest(client, shop, {0: 4, 1: 2, 3: 1})
    await _ingest(client, blog, {0: 1, 3: 5})
    async with services.engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # reltuples is what ANALYZE last saw
            await conn.execute(text("ANALYZE"))
    stats = StorageStats(services.engine, days_per_refresh=7)
    snap = await stats.refresh(at=TODAY + 50_000)

    logs = snap.table("logs")
    assert logs.rows == 13 and logs.bytes > 0 and logs.oldest_day == TODAY - 3 * DAY
    assert snap.table("errors").rows == 2 and snap.table("errors").oldest_day == TODAY - 5 * DAY
    assert snap.table("spans").rows == 0 and snap.table("spans").oldest_day is None
    assert snap.pending_days == 0
    assert snap.per_day()[TODAY]["logs"] == 5 and snap.per_day()[TODAY - 3 * DAY]["logs"] == 6
    assert TODAY - 2 * DAY not in snap.days["logs"] or not snap.days["logs"][TODAY - 2 * DAY]
    assert snap.per_project()[shop.id] == {"logs": 7, "errors": 1}
    assert snap.per_project()[blog.id] == {"logs": 6, "errors": 1}
    assert 0 < snap.estimated_bytes("logs", 6) < logs.bytes

    exposed = dict(line.rsplit(" ", 1) for line in metrics.render().decode().splitlines()
                   if line.startswith("lookout_storage_"))
    assert float(exposed['lookout_storage_rows{table="logs"}']) == 13
    assert float(exposed['lookout_storage_bytes{table="logs"}']) == logs.bytes
    assert float(exposed['lookout_storage_oldest_day_timestamp{table="logs"}']) == TODAY - 3 * DAY
    assert 'lookout_storage_oldest_day_timestamp{table="spans"}' not in exposed


async def test_finished_days_are_counted_once_and_each_refresh_is_bounded(client, services):
    shop = await create_project(services.engine, "shop")
    await _ingest(client, shop, {age: 1 for age in range(8)}, error=False)  # eight days of logs
    seen = _day_counts(services.engine)
    stats = StorageStats(services.engine, days_per_refresh=2)
    at = TODAY + 50_000

    first = await stats.refresh(at=at)
    assert len(seen) == 4  # today, the oldest day, and two more
    assert first.pending_days == 4 and len(first.days["logs"]) == 4
    second = await stats.refresh(at=at)
    # Today and the oldest day (retention nibbles at it) every time, then two more.
    assert len(seen) == 4 + 4 and second.pending_days == 2
    third = await stats.refresh(at=at)
    assert third.pending_days == 0 and sum(third.per_day()[d]["logs"]
                                           for d in third.per_day()) == 8
    seen.clear()
    assert (await stats.refresh(at=at)).pending_days == 0
    assert len(seen) == 2  # only today and the oldest: finished days are remembered

    # Retention removed rows: remembered days are recounted, a bounded number per refresh.
    deleted = await services.run_retention(at=TODAY + 50_000 + 25 * DAY)
    assert deleted["logs"] == 3  # the days older than 30 days as of the later clock
    stats.mark_stale()
    seen.clear()
    later = await stats.refresh(at=at)
    assert len(seen) <= 2 + 2 and later.table("logs").oldest_day == TODAY - 4 * DAY
    assert all(d >= TODAY - 4 * DAY for d in later.days["logs"])
