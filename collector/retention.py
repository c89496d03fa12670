"""Remove collector data older than the retention period, in bounded batches.

Each DELETE removes at most ``batch_rows`` rows in its own short transaction,
so retention never holds the SQLite write lock (or PostgreSQL row locks) long
enough to stall ingest. Ids of stored SDK batches are kept only a day
(:data:`collector.batch_ids.KEEP_SECONDS`), whatever the retention period.
"""

from __future__ import annotations

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import batch_ids, tables
from collector.issue_tables import issue_hourly
from lookout import metrics
from lookout.db import now


async def purge_older_than(engine: AsyncEngine, cutoff: float, batch_rows: int = 5000,
                           max_batches: int = 10_000, batch_ids_before: float | None = None
                           ) -> dict[str, int]:
    """Delete rows with ``ts`` (or ``minute``) before ``cutoff``; return counts per table.

    Batch ids go when older than ``batch_ids_before`` (default: a day ago).
    """
    deleted: dict[str, int] = {}
    if batch_ids_before is None:
        batch_ids_before = now() - batch_ids.KEEP_SECONDS
    batches = tables.ingest_batches
    deleted[batches.name] = await _purge(engine, batches, batches.c.received_at,
                                         batch_ids_before, batch_rows, max_batches)
    for table in tables.RAW_TABLES:
        deleted[table.name] = await _purge(engine, table, table.c.ts, cutoff, batch_rows,
                                           max_batches)
    for table in tables.ROLLUP_TABLES:
        deleted[table.name] = await _purge(engine, table, table.c.minute, cutoff, batch_rows,
                                           max_batches)
    # Hourly issue counts age out like the events they count; issues themselves stay
    # (with their totals), so a bug seen again months later is still recognised.
    deleted[issue_hourly.name] = await _purge(engine, issue_hourly, issue_hourly.c.hour, cutoff,
                                              batch_rows, max_batches)
    for name, count in deleted.items():
        if count:
            metrics.RETENTION_DELETED.labels(name).inc(count)
    return deleted


async def _purge(engine: AsyncEngine, table: Table, column, cutoff: float, batch_rows: int,
                 max_batches: int) -> int:
    total = 0
    old_ids = select(table.c.id).where(column < cutoff).limit(batch_rows).scalar_subquery()
    for _ in range(max_batches):
        async with engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.id.in_(old_ids)))
        total += result.rowcount or 0
        if (result.rowcount or 0) < batch_rows:
            break
    return total
