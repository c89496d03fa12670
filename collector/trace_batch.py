"""PostgreSQL: a batch of spans and request records written by one statement.

Sentry transactions arrive one per request (an envelope each), so the batch
writer's transactions carry a few dozen spans and request records of a few
dozen batch ids. Written the general way (:mod:`collector.store`) that is
BEGIN, the batch-id claim, a COPY per table, the rollup upsert and COMMIT:
six round trips, each several event-loop turns and system calls, more than
the rows themselves cost. Here the same writes are one statement, which
PostgreSQL runs as a transaction of its own (one round trip, one commit);
bigger batches keep the general way (:data:`MAX_ROWS`):

- ``claimed``: the batch ids, ``INSERT .. ON CONFLICT DO NOTHING RETURNING``
  in sorted order, exactly as :func:`collector.batch_ids.claim` does;
- the span and request rows of the batches just claimed (rows without a
  batch id always), ``INSERT .. SELECT`` from a JSON list of rows;
- the request rollups: per-batch deltas (:func:`collector.rollups.request_deltas`)
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


_KEY_LIST = ", ".join(_ROLLUP_KEY)
_rollups = tables.request_rollups.name

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
    f"ru AS (INSERT INTO {_rollups} ({', '.join(_ROLLUP_COLUMNS)}) "
    f"SELECT {_KEY_LIST}, {', '.join(f'sum({c})' for c in _ROLLUP_VALUES)} "
    f"FROM ({_rows(tables.request_rollups, _ROLLUP_COLUMNS, '$4')}) AS d "
    f"({', '.join(_ROLLUP_COLUMNS)}) "
    f"GROUP BY {_KEY_LIST} ORDER BY {_KEY_LIST} "
    f"ON CONFLICT ({_KEY_LIST}) DO UPDATE SET "
    + ", ".join(f"{c} = {_rollups}.{c} + excluded.{c}" for c in _ROLLUP_VALUES) + ") "
    "SELECT project_id, batch_id FROM claimed"
)


# Rows up to which one statement beats the general plan. Measured (bench/README.md):
# at 90 rows it takes half the time of BEGIN, COPY.. COMMIT; from about 300 rows on,
# PostgreSQL's parsing of the JSON costs more than the round trips it saves, and
# binary COPY is faster (twice as fast at 3,000 rows).
MAX_ROWS = 200


def applies(batches: list[n.RowBatch]) -> bool:
    """True for a small batch of spans and request records only (Sentry transactions)."""
    rows = 0
    for b in batches:
        if b.logs or b.errors or b.metrics:
            return False
        rows += len(b.spans) + len(b.requests)
    return rows <= MAX_ROWS


_encode = msgspec.json.Encoder().encode


def plan(jobs: list[tuple[Key | None, Answer | None, n.RowBatch]], now: float
         ) -> Generator[Step, Any, dict[Key, Answer]]:
    """Write ``jobs`` (each batch id once) in one statement; return the answers of ids taken before."""
    answers = {key: answer for key, answer, _ in jobs if key is not None and answer is not None}
    keys = sorted(answers)
    claims = [(k[0], k[1], answers[k].accepted, _encode(answers[k].rejected).decode())
              for k in keys]
    spans: list[tuple[Any, ...]] = []
    requests: list[tuple[Any, ...]] = []
    deltas: list[tuple[Any, ...]] = []
    for key, _, rows in jobs:
        owner = (None, None) if key is None else key
        spans.extend((*owner, *row) for row in rows.spans)
        requests.extend((*owner, *row) for row in rows.requests)
        deltas.extend((*owner, *(d[c] for c in _ROLLUP_COLUMNS))
                      for d in rollups.request_deltas(rows.requests))
    params = [_encode(claims).decode(), _encode(spans).decode(), _encode(requests).decode(),
              _encode(deltas).decode(), now]
    claimed = {(int(r[0]), str(r[1])) for r in (yield (SQL, params, "last"))}
    return (yield from batch_ids.stored_answers([k for k in keys if k not in claimed]))
