"""Write a batch of rows and its rollups in one transaction.

PostgreSQL gets binary ``COPY`` for the raw tables (several times faster than
INSERT); SQLite gets ``executemany`` of one prepared INSERT. Errors go through
``INSERT ... ON CONFLICT DO NOTHING`` on ``(project_id, event_id)`` so an SDK
retrying the same event stores it once, and are grouped into issues in the
same transaction (:mod:`collector.issues`). Rollups are additive upserts.

Like :mod:`collector.issues`, the whole write is one *plan*: a generator
that yields steps (SQL and parameters, or a COPY) and receives results.
On PostgreSQL each step is awaited on the connection. On SQLite the plan runs
in a single call on aiosqlite's thread (:func:`run_sqlite`): every statement
through the async adapter costs several thread hops and GIL hand-overs,
which cost more than the statements themselves; the batch writer even runs
``BEGIN IMMEDIATE`` and ``COMMIT`` in that same call
(:func:`sqlite_transaction`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from collector import issues, rollups, tables
from collector import normalize as n
from collector.buckets import COLUMNS as BUCKETS
from collector.issues import Step
from collector.spans import SPAN_COLUMNS

# Called inside the write transaction with the error rows just inserted (not
# duplicates), already grouped: each carries ``issue_id`` and ``fingerprint``.
ErrorHook = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[None]]
Plan = Generator[Step, Any, list[dict[str, Any]]]

_RAW = (
    (tables.logs, n.LOG_COLUMNS, "logs"),
    (tables.metric_points, n.METRIC_COLUMNS, "metrics"),
    (tables.request_records, n.REQUEST_COLUMNS, "requests"),
    (tables.spans, SPAN_COLUMNS, "spans"),
)


def plan(batch: n.RowBatch, is_pg: bool, id_cache: dict[tuple[int, str], int],
         now: float, tag_limits: issues.TagLimits = issues.DEFAULT_TAG_LIMITS) -> Plan:
    """Every statement of writing ``batch``; returns the error rows that were new."""
    for table, columns, attr in _RAW:
        rows = getattr(batch, attr)
        if not rows:
            continue
        if is_pg:
            yield (table.name, (columns, rows), "copy")
        else:
            sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
                   f"VALUES ({', '.join('?' * len(columns))})")
            yield (sql, rows, "many")
    new_errors: list[dict[str, Any]] = []
    if batch.errors:
        # Grouping and issue counters commit with the events (collector.issues).
        only_errors = not (batch.logs or batch.metrics or batch.requests or batch.spans)
        new_errors = yield from issues.plan(batch.errors, now, is_pg, id_cache, last=only_errors,
                                            tag_limits=tag_limits)
    yield from _upsert(tables.log_rollups.name, rollups.log_deltas(batch.logs),
                       ("project_id", "minute", "service", "environment", "level"), ("count",),
                       is_pg)
    yield from _upsert(tables.request_rollups.name, rollups.request_deltas(batch.requests),
                       ("project_id", "minute", "service", "environment", "route"),
                       ("count", "errors", "duration_sum", *BUCKETS), is_pg)
    yield from _upsert(tables.metric_rollups.name, rollups.metric_deltas(batch.metrics),
                       ("project_id", "minute", "name", "service", "environment", "tags_hash"),
                       ("count", "sum", *BUCKETS), is_pg, minmax=True)
    return new_errors


def _upsert(table: str, rows: list[dict[str, Any]], key: tuple[str, ...],
            additive: tuple[str, ...], is_pg: bool, minmax: bool = False
            ) -> Generator[Step, Any, None]:
    """One additive ``INSERT .. ON CONFLICT DO UPDATE`` executed for every row."""
    if not rows:
        return
    columns = list(rows[0])
    changes = [f"{c} = {table}.{c} + excluded.{c}" for c in additive]
    if minmax:
        least, greatest = ("LEAST", "GREATEST") if is_pg else ("MIN", "MAX")
        changes += [f"min = {least}({table}.min, excluded.min)",
                    f"max = {greatest}({table}.max, excluded.max)", "last = excluded.last"]
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
           f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(changes)}")
    yield (sql, [tuple(r[c] for c in columns) for r in rows], "many")


async def write_rows(conn: AsyncConnection, batch: n.RowBatch,
                     error_hook: ErrorHook | None = None, now: float | None = None) -> None:
    """Insert ``batch`` and upsert its rollups on ``conn`` (caller owns the transaction)."""
    steps = plan(batch, conn.dialect.name == "postgresql",
                 issues.id_cache(conn.engine.sync_engine), issues.clock(now))
    await run_plan(conn, steps, error_hook)


async def run_plan(conn: AsyncConnection, steps: Plan, error_hook: ErrorHook | None = None
                   ) -> None:
    """Run a write plan on ``conn`` (caller owns the transaction), then the error hook."""
    if conn.dialect.name == "postgresql":
        new_errors = await issues.drive_async(conn, steps)
    else:
        raw = (await conn.get_raw_connection()).driver_connection
        new_errors = await raw._execute(run_sqlite, raw._conn, steps)
    if error_hook is not None and new_errors:
        await error_hook(conn, new_errors)


def run_sqlite(sqlite_conn: Any, steps: Plan) -> list[dict[str, Any]]:
    """Run a plan on a ``sqlite3`` connection (call it on that connection's thread)."""
    result: Any = None
    try:
        while True:
            sql, params, mode = steps.send(result)
            if mode == "many":
                sqlite_conn.executemany(sql, params)
                result = None
            else:
                result = sqlite_conn.execute(sql, params).fetchall()
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def asyncpg_transaction(connection: Any, steps: Plan,
                              rollback: bool = False) -> list[dict[str, Any]]:
    """Run a plan in one transaction straight on an ``asyncpg`` connection.

    Skips SQLAlchemy's adapter (a greenlet switch and several Python layers per
    statement); the statements are the same as through :func:`write_rows`.
    The transaction begins before the first step, unless that step is the
    plan's ``"last"`` one: a single statement is atomic by itself, and run
    alone it commits without the BEGIN and COMMIT round trips (the usual case
    for Sentry events, whose issue ids are cached). With ``rollback`` the plan
    is only tried: its transaction is rolled back at the end.
    """
    transaction = None
    result: Any = None
    try:
        while True:
            sql, params, mode = steps.send(result)
            if transaction is None and (mode != "last" or rollback):
                transaction = connection.transaction()
                await transaction.start()
            if mode == "copy":
                columns, records = params
                await connection.copy_records_to_table(sql, records=records, columns=columns)
                result = None
            elif mode == "many":
                await connection.executemany(issues.dollar(sql), params)
                result = None
            else:
                result = await connection.fetch(issues.dollar(sql), *params)
    except StopIteration as done:
        if transaction is not None:
            await (transaction.rollback() if rollback else transaction.commit())
        return done.value  # type: ignore[no-any-return]
    except BaseException:
        if transaction is not None and not connection.is_closed():
            with contextlib.suppress(Exception):  # the writer throws the connection away
                await transaction.rollback()
        raise


def sqlite_transaction(sqlite_conn: Any, steps: Plan,
                       rollback: bool = False) -> list[dict[str, Any]]:
    """``BEGIN IMMEDIATE``, the plan, ``COMMIT`` (rolled back on any error, or always
    with ``rollback``: the plan is only tried), in one call.

    IMMEDIATE takes the write lock up front (waiting up to the busy timeout),
    so the plan's reads and writes see one snapshot and never fail half-way
    with "database is locked" when another connection wrote in between.
    """
    if sqlite_conn.in_transaction:
        sqlite_conn.rollback()
    sqlite_conn.execute("BEGIN IMMEDIATE")
    try:
        new_errors = run_sqlite(sqlite_conn, steps)
        if rollback:
            sqlite_conn.rollback()
        else:
            sqlite_conn.commit()
    except BaseException:
        sqlite_conn.rollback()
        raise
    return new_errors
