"""Write a batch of rows and its rollups in one transaction.

PostgreSQL gets binary ``COPY`` for the raw tables (several times faster than
INSERT); SQLite gets ``executemany`` of one prepared INSERT. Errors go through
``INSERT ... ON CONFLICT DO NOTHING`` on ``(project_id, event_id)`` so an SDK
retrying the same event stores it once, and are grouped into issues in the
same transaction (:mod:`collector.issues`). Rollups are additive upserts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from collector import issues, rollups, tables
from collector import normalize as n
from collector.buckets import COLUMNS as BUCKETS

# Called inside the write transaction with the error rows just inserted (not
# duplicates), already grouped: each carries ``issue_id`` and ``fingerprint``.
ErrorHook = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[None]]

_RAW = (
    (tables.logs, n.LOG_COLUMNS, "logs"),
    (tables.metric_points, n.METRIC_COLUMNS, "metrics"),
    (tables.request_records, n.REQUEST_COLUMNS, "requests"),
)


async def write_rows(conn: AsyncConnection, batch: n.RowBatch,
                     error_hook: ErrorHook | None = None) -> None:
    """Insert ``batch`` and upsert its rollups on ``conn`` (caller owns the transaction)."""
    is_pg = conn.dialect.name == "postgresql"
    for table, columns, attr in _RAW:
        rows = getattr(batch, attr)
        if not rows:
            continue
        if is_pg:
            await copy_rows(conn, table.name, columns, rows)
        else:
            await insert_rows_sqlite(conn, table.name, columns, rows)
    if batch.errors:
        # Grouping and issue counters commit with the events (collector.issues).
        new_errors = await issues.store_errors(conn, batch.errors)
        if error_hook is not None and new_errors:
            await error_hook(conn, new_errors)
    await upsert(conn, tables.log_rollups, rollups.log_deltas(batch.logs),
                 ("project_id", "minute", "service", "environment", "level"), ("count",))
    await upsert(conn, tables.request_rollups, rollups.request_deltas(batch.requests),
                 ("project_id", "minute", "service", "environment", "route"),
                 ("count", "errors", "duration_sum", *BUCKETS))
    await upsert(conn, tables.metric_rollups, rollups.metric_deltas(batch.metrics),
                 ("project_id", "minute", "name", "service", "environment", "tags_hash"),
                 ("count", "sum", *BUCKETS), minmax=True)


async def copy_rows(conn: AsyncConnection, table: str, columns: tuple[str, ...],
                    rows: list[tuple[Any, ...]]) -> None:
    raw = await conn.get_raw_connection()
    # COPY runs on the driver connection; make sure SQLAlchemy's transaction has begun
    # on it first so the rows commit (or roll back) together with everything else.
    await conn.exec_driver_sql("SELECT 1")
    await raw.driver_connection.copy_records_to_table(table, records=rows, columns=columns)


async def insert_rows_sqlite(conn: AsyncConnection, table: str, columns: tuple[str, ...],
                             rows: list[tuple[Any, ...]]) -> None:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    await conn.exec_driver_sql(sql, rows)


async def upsert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]],
                 key: tuple[str, ...], additive: tuple[str, ...], minmax: bool = False) -> None:
    if not rows:
        return
    stmt = _insert(conn, table)
    excluded = stmt.excluded
    changes: dict[str, Any] = {c: table.c[c] + excluded[c] for c in additive}
    if minmax:
        lo, hi = (func.least, func.greatest) if conn.dialect.name == "postgresql" else (func.min,
                                                                                         func.max)
        changes["min"] = lo(table.c.min, excluded.min)
        changes["max"] = hi(table.c.max, excluded.max)
        changes["last"] = excluded["last"]
    await conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=changes), rows)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
