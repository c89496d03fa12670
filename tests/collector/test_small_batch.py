"""Batches of spans and request records through the batch writer, on SQLite and PostgreSQL.

On PostgreSQL they are written by one statement (:mod:`collector.small_batch`),
on SQLite by the general plan; both must store the same rows, rollups and
batch ids: each batch once, a retry answered with the stored answer, rows
without a batch id always, and a record the database refuses left out alone.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from collector import small_batch, tables
from collector.batch_ids import Answer
from collector.buckets import COLUMNS as BUCKETS
from collector.normalize import LOG_COLUMNS, REQUEST_COLUMNS, RowBatch
from collector.spans import SPAN_COLUMNS
from collector.writer import BatchWriter
from lookout.db import create_engine
from lookout.projects import create_project

NOW = time.time()
MINUTE = int(NOW // 60) * 60


def _span(project_id: int, span_id: str, request_id: str | None) -> tuple[Any, ...]:
    values = dict(project_id=project_id, ts=NOW, received_at=NOW, service="shop",
                  environment="prod", release="1", host="web-1", request_id=request_id,
                  trace_id="ab" * 16, attributes='{"db.system":"pg","quote":"it\'s \\"x\\""}',
                  span_id=span_id, parent_span_id=None, name="GET /cart", op="http.server",
                  kind="server", duration_ms=12.5, status="ok", sample_rate=0.5,
                  source="sentry")
    return tuple(values[c] for c in SPAN_COLUMNS)


def _request(project_id: int, request_id: str, status: int, duration: float,
             route: str = "GET /cart") -> tuple[Any, ...]:
    values = dict(project_id=project_id, ts=NOW, received_at=NOW, service="shop",
                  environment="prod", release="1", host="web-1", request_id=request_id,
                  trace_id="ab" * 16, attributes="{}", method="GET", route=route,
                  status=status, duration_ms=duration, unhandled=status >= 500)
    return tuple(values[c] for c in REQUEST_COLUMNS)


def _log(project_id: int, request_id: str) -> tuple[Any, ...]:
    values = dict(project_id=project_id, ts=NOW, received_at=NOW, service="shop",
                  environment="prod", release="1", host="web-1", request_id=request_id,
                  trace_id=None, attributes='{"n":1}', level=40, logger="app",
                  message=f"cart {request_id} failed: \"quoted\", ünïcode\nsecond line")
    return tuple(values[c] for c in LOG_COLUMNS)


def _batch(project_id: int, name: str, status: int = 200, duration: float = 12.5) -> RowBatch:
    return RowBatch(spans=[_span(project_id, f"{name:0>16}"[:16], name),
                           _span(project_id, f"{name:1>16}"[:16], name)],
                    requests=[_request(project_id, name, status, duration)],
                    logs=[_log(project_id, name)])


async def _stored_logs(engine) -> tuple[list[tuple], list[dict[str, Any]]]:
    async with engine.connect() as conn:
        logs = (await conn.execute(select(*[tables.logs.c[c] for c in LOG_COLUMNS])
                                   .order_by(tables.logs.c.request_id))).all()
        rollup = (await conn.execute(select(tables.log_rollups))).mappings().all()
    return [tuple(r) for r in logs], [dict(r) for r in rollup]


async def _stored(engine) -> tuple[list[tuple], list[tuple], list[dict[str, Any]], list[str]]:
    async with engine.connect() as conn:
        spans = (await conn.execute(select(*[tables.spans.c[c] for c in SPAN_COLUMNS])
                                    .order_by(tables.spans.c.span_id))).all()
        requests = (await conn.execute(
            select(*[tables.request_records.c[c] for c in REQUEST_COLUMNS])
            .order_by(tables.request_records.c.request_id))).all()
        rollup = (await conn.execute(select(tables.request_rollups))).mappings().all()
        ids = (await conn.execute(select(tables.ingest_batches.c.batch_id)
                                  .order_by(tables.ingest_batches.c.batch_id))).scalars().all()
    return ([tuple(r) for r in spans], [tuple(r) for r in requests],
            [dict(r) for r in rollup], list(ids))


async def _no_hook(conn, new_errors) -> None:
    """An error hook: the writer then runs its plans through SQLAlchemy, not the driver."""


@pytest.mark.parametrize("hook", [None, _no_hook], ids=["driver", "sqlalchemy"])
@pytest.mark.parametrize("max_rows", [small_batch.MAX_ROWS, 0], ids=["small", "big"])
async def test_batches_ids_rows_and_rollups_are_stored_once(db_url: str, hook, max_rows,
                                                            monkeypatch) -> None:
    """Small batches (logs, spans, request records) take the one statement on PostgreSQL,
    bigger ones the general plan (here: every batch counts as big); both store the same."""
    monkeypatch.setattr(small_batch, "MAX_ROWS", max_rows)
    statements: list[int] = []
    real_plan = small_batch.plan

    def counted(prepared):
        statements.append(1)
        return real_plan(prepared)

    monkeypatch.setattr(small_batch, "plan", counted)
    engine = create_engine(db_url)
    project = await create_project(engine, "p")
    pid = project.id
    writer = BatchWriter(engine, timeout=20, error_hook=hook)
    writer.start()
    try:
        # One transaction: two batches with ids, the first of them sent twice, and one
        # without an id (an OTLP export without a batch id).
        first = await asyncio.gather(
            writer.submit(_batch(pid, "a"), (pid, "tx-a"), Answer(3)),
            writer.submit(_batch(pid, "b", 503, 700.0), (pid, "tx-b"), Answer(3)),
            writer.submit(_batch(pid, "a"), (pid, "tx-a"), Answer(3)),
            writer.submit(_batch(pid, "n")))
        # Later: a retry of "b" (its stored answer comes back, nothing is written) and a
        # new batch in the same transaction.
        again = await asyncio.gather(
            writer.submit(_batch(pid, "b", 503, 700.0), (pid, "tx-b"), Answer(99)),
            writer.submit(_batch(pid, "c", 200, 3.0), (pid, "tx-c"), Answer(3)))
    finally:
        await writer.stop()
    spans, requests, (rollup,), ids = await _stored(engine)
    logs, (log_rollup,) = await _stored_logs(engine)
    await engine.dispose()
    assert bool(statements) == (max_rows > 0 and db_url.startswith("postgresql"))
    assert logs == [_log(pid, x) for x in "abcn"]  # each batch's log line once, as sent
    assert {k: log_rollup[k] for k in ("minute", "service", "level", "count")} == {
        "minute": MINUTE, "service": "shop", "level": 40, "count": 4}
    assert [r.accepted if r else None for r in first] == [None, None, 3, None]
    assert [r.accepted if r else None for r in again] == [3, None]
    assert ids == ["tx-a", "tx-b", "tx-c"]
    assert sorted(spans) == sorted(_batch(pid, x).spans[i] for x in "abcn" for i in (0, 1))
    assert [r[REQUEST_COLUMNS.index("request_id")] for r in requests] == ["a", "b", "c", "n"]
    assert requests[1] == _batch(pid, "b", 503, 700.0).requests[0]
    want_buckets = {b: 0 for b in BUCKETS}
    want_buckets.update({"b05": 2, "b10": 1, "b03": 1})  # 12.5 ms twice, 700 ms, 3 ms
    assert {k: rollup[k] for k in ("project_id", "minute", "service", "environment", "route",
                                    "count", "errors", "duration_sum", *BUCKETS)} == {
        "project_id": pid, "minute": MINUTE, "service": "shop", "environment": "prod",
        "route": "GET /cart", "count": 4, "errors": 1, "duration_sum": 728.0, **want_buckets}


async def test_a_record_the_database_refuses_is_left_out_alone(db_url: str) -> None:
    """A request record over PostgreSQL's index row limit (past the collector's checks)
    is refused by itself; the spans and other records of its batch are stored."""
    engine = create_engine(db_url)
    project = await create_project(engine, "p")
    pid = project.id
    writer = BatchWriter(engine, timeout=20)
    writer.start()
    refused: list[tuple[str, int, str]] = []
    rows = _batch(pid, "a")
    rows.requests.append(_request(pid, "bad", 200, 1.0, route="é" * 3000))
    answer = Answer(len(rows))
    try:
        await writer.submit(rows, (pid, "tx-a"), answer,
                            refuse=lambda *r: refused.append(r))
    finally:
        await writer.stop()
    spans, requests, rollups, ids = await _stored(engine)
    await engine.dispose()
    assert len(spans) == 2 and ids == ["tx-a"]
    if db_url.startswith("postgresql"):
        assert [(kind, at) for kind, at, _ in refused] == [("requests", 1)]
        assert [r[REQUEST_COLUMNS.index("request_id")] for r in requests] == ["a"]
        assert [r["count"] for r in rollups] == [1]
    else:  # SQLite has no such limit
        assert refused == [] and len(requests) == 2 and len(rollups) == 2


@pytest.mark.parametrize("spans_only", [True, False])
async def test_spans_without_requests_or_requests_without_spans(db_url: str,
                                                                spans_only: bool) -> None:
    engine = create_engine(db_url)
    project = await create_project(engine, "p")
    pid = project.id
    writer = BatchWriter(engine, timeout=20)
    writer.start()
    rows = _batch(pid, "a")
    if spans_only:
        rows.requests = []
    else:
        rows.spans = []
    try:
        await writer.submit(rows, (pid, "tx-a"), Answer(len(rows)))
    finally:
        await writer.stop()
    spans, requests, rollup, ids = await _stored(engine)
    await engine.dispose()
    assert (len(spans), len(requests), bool(rollup), ids) == \
        ((2, 0, False, ["tx-a"]) if spans_only else (0, 1, True, ["tx-a"]))
