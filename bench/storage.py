"""Storage figures and per-project retention on a loaded database: cost and event-loop lag.

Loads N logs (default 1,000,000) spread over 30 days and 3 projects straight
into a fresh database, then measures, in the same run:

- the storage job (``lookout.storage.StorageStats.refresh``): each refresh after
  start until every day is counted (today, the oldest day and
  LOOKOUT_STORAGE_DAYS_PER_REFRESH more each), then one with every finished day
  remembered, and the longest the event loop went without running a 5 ms ticker
  meanwhile (the job must never hold up ingest or ``/metrics``);
- retention as of a clock 10 days later with one project keeping logs 60 days
  and the others 14 (per-project cutoffs walk the ts index with a cursor),
  beside the rows it removed, and a baseline run with one cutoff for everyone;
- an idle event loop's longest gap, the baseline for the gaps above.

Usage::

    .venv/bin/python bench/storage.py --db sqlite
    .venv/bin/python bench/storage.py --db postgres \\
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/lookout_bench_storage

The PostgreSQL database is dropped and created again (it must not be one in use).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text

from collector import tables
from collector.retention import purge_expired, purge_older_than
from lookout.db import create_engine
from lookout.migrate import upgrade
from lookout.project_retention import set_retention
from lookout.projects import create_project
from lookout.storage import DAY, StorageStats, day_of

DAYS = 30


async def _fresh_pg(url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                 user=parsed.username, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await conn.close()


async def _load(engine, rows: int, now: float) -> list[int]:
    ids = [(await create_project(engine, name)).id for name in ("shop", "blog", "api")]
    chunk = 20_000
    for start in range(0, rows, chunk):
        batch = [{"project_id": ids[i % 3], "ts": now - (i / rows) * DAYS * DAY,
                  "received_at": now, "service": "checkout", "level": 9,
                  "message": f"order {i} placed for customer {i % 977}", "attributes": "{}"}
                 for i in range(start, min(rows, start + chunk))]
        async with engine.begin() as conn:
            await conn.execute(tables.logs.insert(), batch)
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE logs"))
            await conn.commit()
    return ids


async def _timed_with_lag(work) -> tuple[float, float, object]:
    """Seconds ``work`` took and the longest gap (ms) between ticks of a 5 ms ticker."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            tick = time.perf_counter()
            gaps.append(tick - last)
            last = tick

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    result = await work()
    took = time.perf_counter() - start
    stop.set()
    await task
    return took, max(gaps, default=0.0) * 1000, result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url",
                        default="postgresql+asyncpg://postgres@127.0.0.1:5432/lookout_bench_storage")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days-per-refresh", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        else:
            url = args.pg_url
            await _fresh_pg(url)
        engine = create_engine(url)
        try:
            await upgrade(engine)
            now = day_of(time.time()) + 43_200
            load_start = time.perf_counter()
            await _load(engine, args.rows, now)
            print(f"{args.db}: loaded {args.rows:,} logs over {DAYS} days in "
                  f"{time.perf_counter() - load_start:.1f} s")
            took, lag, _ = await _timed_with_lag(lambda: asyncio.sleep(2))
            print(f"  idle loop (baseline, same run): longest gap {lag:.1f} ms")
            stats = StorageStats(engine, args.days_per_refresh)
            refresh, snap = 0, None
            while snap is None or snap.pending_days:
                refresh += 1
                took, lag, snap = await _timed_with_lag(lambda: stats.refresh(at=now))
                print(f"  refresh {refresh}: {took * 1000:.0f} ms, longest loop gap {lag:.1f} ms,"
                      f" {snap.pending_days} days left to count; logs rows "
                      f"{snap.table('logs').rows:,}, bytes {snap.table('logs').bytes or 0:,}")
            took, lag, snap = await _timed_with_lag(lambda: stats.refresh(at=now))
            print(f"  refresh with every finished day known: {took * 1000:.0f} ms, longest "
                  f"loop gap {lag:.1f} ms")
            await set_retention(engine, "shop", {"logs": 60})
            took, lag, deleted = await _timed_with_lag(lambda: purge_expired(
                engine, {"logs": 14, "errors": 30, "metrics": 30, "requests": 30},
                at=now + 10 * DAY))
            print(f"  retention (shop 60 d, others 14 d, clock +10 d): {took:.1f} s, "
                  f"{deleted['logs']:,} logs deleted, longest loop gap {lag:.1f} ms")
            # Baseline: one cutoff for every project (the code path before per-project
            # retention) on the rows left: shop's older than 10 days.
            took, lag, deleted = await _timed_with_lag(lambda: purge_older_than(
                engine, now - 10 * DAY))
            print(f"  retention baseline (one cutoff): {took:.1f} s, {deleted['logs']:,} logs "
                  f"deleted, longest loop gap {lag:.1f} ms")
        finally:
            await engine.dispose()
        if args.db == "postgres":
            from tests.support.testdb import drop
            await drop(url)


if __name__ == "__main__":
    asyncio.run(main())
