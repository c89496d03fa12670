"""PostgreSQL: a small batch of logs, spans and request records written by one statement.

Sentry transactions arrive one per request (an envelope each), and SDKs flush
logs in batches of a few dozen, so most of the batch writer's transactions
carry a few dozen rows of a few dozen batch ids. Written the general way
(:mod:`collector.store`) that is BEGIN, the batch-id claim, a COPY per table,
the rollup upserts and COMMIT: up to seven round trips, each several
event-loop turns and system calls, more than the rows themselves cost, and
under load every turn waits behind whatever else the loop is doing. Here the
same writes are one statement, which PostgreSQL runs as a transaction of its
own (one round trip, one commit); bigger batches, and batches with errors
(grouping) or metrics, keep the general way (:data:`MAX_ROWS`):

- ``claimed``: the batch ids, ``INSERT .. ON CONFLICT DO NOTHING RETURNING``
  in sorted order, exactly as :func:`collector.batch_ids.claim` does;
- the log, span and request rows of the batches just claimed (rows without a
  batch id always), ``INSERT .. SELECT`` from a JSON list of rows per table;
- the request and log rollups: per-batch deltas (:mod:`collector.rollups`)
  of the claimed batches, summed per key, upserted in key order.

A batch whose id was taken before writes nothing; its stored answer is read
afterwards (:func:`collector.batch_ids.stored_answers`). Durability is the
same: the statement commits before the writer answers anyone.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import msgspec

from collector import batch_ids, rollups, tables
from collector import normalize as n
from collector.batch_ids import Answer, Key
from collector.buckets import COLUMNS as BUCKETS
from collector.issues import Step
from collector.spans import SPAN_COLUMNS

_CASTS = {"Integer": "int4", "BigInteger": "int8", "SmallInteger": "int2", "Boolean": "bool",
          "Double": "float8"}  # SQLAlchemy type -> PostgreSQL cast; strings stay text
_ROLLUP_KEY = ("project_id", "minute", "service", "environment", "route")
_ROLLUP_VALUES = ("count", "errors", "duration_sum", *BUCKETS)
_ROLLUP_COLUMNS = (*_ROLLUP_KEY, *_ROLLUP_VALUES)
_LOG_ROLLUP_KEY = ("project_id", "minute", "service", "environment", "level")
_LOG_ROLLUP_COLUMNS = (*_LOG_ROLLUP_KEY, "count")


def _rows(table: Any, columns: tuple[str, ...], param: str) -> str:
    """The rows of the JSON list ``param`` (each ``[kp, kb, *columns]``: the batch id
    owning the row, then its values) whose batch was claimed now or that have none.

    JSON rather than one array parameter per column: asyncpg checks every element of
    an array against three ABCs in Python, which cost more than the rows' whole write.
    """
    values = []
    for i, column in enumerate(columns, 2):
        cast = _CASTS.get(type(table.c[column].type).__name__)
        values.append(f"(e->>{i})::{cast}" if cast else f"e->>{i}")
    return (f"SELECT {', '.join(values)} FROM jsonb_array_elements({param}::jsonb) AS e "
            "WHERE e->>1 IS NULL OR ((e->>0)::int4, e->>1) IN "
            "(SELECT project_id, batch_id FROM claimed)")


def _upsert(table: Any, key: tuple[str, ...], values: tuple[str, ...], param: str) -> str:
    """Add the summed deltas of the JSON list ``param`` to ``table``'s rows, in key order."""
    keys, columns = ", ".join(key), (*key, *values)
    return (f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"SELECT {keys}, {', '.join(f'sum({c})' for c in values)} "
            f"FROM ({_rows(table, columns, param)}) AS d ({', '.join(columns)}) "
            f"GROUP BY {keys} ORDER BY {keys} ON CONFLICT ({keys}) DO UPDATE SET "
            + ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in values))


SQL = (
    f"WITH claimed AS (INSERT INTO {tables.ingest_batches.name} "
    "(project_id, batch_id, received_at, accepted, rejected) "
    "SELECT (e->>0)::int4, e->>1, $5::float8, (e->>2)::int4, e->>3 "
    "FROM jsonb_array_elements($1::jsonb) AS e "
    "ON CONFLICT (project_id, batch_id) DO NOTHING RETURNING project_id, batch_id), "
    f"s AS (INSERT INTO {tables.spans.name} ({', '.join(SPAN_COLUMNS)}) "
    f"{_rows(tables.spans, SPAN_COLUMNS, '$2')}), "
    f"r AS (INSERT INTO {tables.request_records.name} ({', '.join(n.REQUEST_COLUMNS)}) "
    f"{_rows(tables.request_records, n.REQUEST_COLUMNS, '$3')}), "
    f"ru AS ({_upsert(tables.request_rollups, _ROLLUP_KEY, _ROLLUP_VALUES, '$4')}), "
    f"l AS (INSERT INTO {tables.logs.name} ({', '.join(n.LOG_COLUMNS)}) "
    f"{_rows(tables.logs, n.LOG_COLUMNS, '$6')}), "
    f"lu AS ({_upsert(tables.log_rollups, _LOG_ROLLUP_KEY, ('count',), '$7')}) "
    "SELECT project_id, batch_id FROM claimed"
)


# Rows up to which one statement beats the general plan. Measured (bench/README.md):
# at 90 rows it takes half the time of BEGIN, COPY.. COMMIT; from about 300 rows on,
# PostgreSQL's parsing of the JSON costs more than the round trips it saves, and
# binary COPY is faster (twice as fast at 3,000 rows).
MAX_ROWS = 200


def applies(batches: list[n.RowBatch]) -> bool:
    """True for a small batch of logs, spans and request records only (no errors, which
    are grouped into issues, and no metrics)."""
    rows = 0
    for b in batches:
        if b.errors or b.metrics:
            return False
        rows += len(b.spans) + len(b.requests) + len(b.logs)
    return rows <= MAX_ROWS


_encode = msgspec.json.Encoder().encode


Prepared = tuple[list[Any], list[Key]]


def prepare(jobs: list[tuple[Key | None, Answer | None, n.RowBatch]], now: float
            ) -> Prepared | None:
    """The statement's parameters for ``jobs`` (each batch id once) and the batch ids it
    claims; None when a row cannot go this way (a value the rollups cannot count, such
    as a missing time): the general way then lets the database say what is wrong."""
    answers = {key: answer for key, answer, _ in jobs if key is not None and answer is not None}
    keys = sorted(answers)
    try:
        claims = [(k[0], k[1], answers[k].accepted, _encode(answers[k].rejected).decode())
                  for k in keys]
        spans: list[tuple[Any, ...]] = []
        requests: list[tuple[Any, ...]] = []
        deltas: list[tuple[Any, ...]] = []
        logs: list[tuple[Any, ...]] = []
        log_deltas: list[tuple[Any, ...]] = []
        for key, _, rows in jobs:
            owner = (None, None) if key is None else key
            spans.extend((*owner, *row) for row in rows.spans)
            requests.extend((*owner, *row) for row in rows.requests)
            deltas.extend((*owner, *(d[c] for c in _ROLLUP_COLUMNS))
                          for d in rollups.request_deltas(rows.requests))
            logs.extend((*owner, *row) for row in rows.logs)
            log_deltas.extend((*owner, *(d[c] for c in _LOG_ROLLUP_COLUMNS))
                              for d in rollups.log_deltas(rows.logs))
        params = [_encode(claims).decode(), _encode(spans).decode(), _encode(requests).decode(),
                  _encode(deltas).decode(), now, _encode(logs).decode(),
                  _encode(log_deltas).decode()]
    except (TypeError, ValueError, OverflowError):
        return None
    return params, keys


def plan(prepared: Prepared) -> Generator[Step, Any, dict[Key, Answer]]:
    """Run the prepared statement; return the stored answers of batch ids taken before."""
    params, keys = prepared
    claimed = {(int(r[0]), str(r[1])) for r in (yield (SQL, params, "last"))}
    return (yield from batch_ids.stored_answers([k for k in keys if k not in claimed]))
