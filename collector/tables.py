"""Tables owned by the collector: raw records and their per-minute rollups.

Raw tables (``logs``, ``errors``, ``metric_points``, ``request_records``,
``spans``) keep
every record for search and the request timeline. Rollup tables keep one row
per minute and label set, updated additively by the writer, so that rules
read a bounded number of rows whatever the traffic.

The indexes exist for the lookups the product makes: everything with request
ID X (``request_id``), logs of service S between t1 and t2 (``service, ts``),
newest first over everything (``ts``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from collector.buckets import COLUMNS as BUCKET_COLUMNS
from lookout.db import metadata

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer, "sqlite")


def _common() -> list[Column]:
    """Columns every raw record has (the ``resource`` plus correlation ids)."""
    return [
        Column("project_id", Integer, nullable=False),
        Column("ts", Double, nullable=False),
        Column("received_at", Double, nullable=False),
        Column("service", String(200), nullable=False, default=""),
        Column("environment", String(200), nullable=False, default=""),
        Column("release", String(200), nullable=False, default=""),
        Column("host", String(200), nullable=False, default=""),
        Column("request_id", String(200), nullable=True),
        Column("trace_id", String(64), nullable=True),
        Column("attributes", Text, nullable=False, default="{}"),
    ]


logs = Table(
    "logs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    *_common(),
    Column("level", SmallInteger, nullable=False),
    Column("logger", String(200), nullable=False, default=""),
    Column("message", Text, nullable=False),
    Index("ix_logs_request_id", "request_id"),
    Index("ix_logs_service_ts", "service", "ts"),
    Index("ix_logs_ts", "ts"),
)

errors = Table(
    "errors",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    *_common(),
    Column("event_id", String(32), nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("logger", String(200), nullable=False, default=""),
    Column("message", Text, nullable=False, default=""),
    # JSON list of {type, value, module, mechanism, frames}; oldest first.
    Column("exception", Text, nullable=False, default="[]"),
    Column("platform", String(50), nullable=False, default="python"),
    Column("source", String(20), nullable=False, default="lookout"),
    Column("handled", Boolean, nullable=True),
    # Everything else the client sent that the UI may show (tags, contexts, user...).
    Column("extra", Text, nullable=False, default="{}"),
    # Filled by grouping: the issue this event belongs to and the hash that put it there.
    Column("issue_id", BigInteger, nullable=True),
    Column("fingerprint", String(64), nullable=True),
    UniqueConstraint("project_id", "event_id"),
    Index("ix_errors_issue_id_ts", "issue_id", "ts"),
    Index("ix_errors_request_id", "request_id"),
    Index("ix_errors_service_ts", "service", "ts"),
    Index("ix_errors_ts", "ts"),
)

metric_points = Table(
    "metric_points",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    *_common(),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", Double, nullable=False),
    Column("count", BigInteger, nullable=False, default=1),
    Column("sum", Double, nullable=False),
    Column("min", Double, nullable=False),
    Column("max", Double, nullable=False),
    Column("tags", Text, nullable=False, default="{}"),
    # Client-side histogram counts on the server's bounds (JSON list), "" for none.
    Column("buckets", Text, nullable=False, default=""),
    Index("ix_metric_points_name_ts", "name", "ts"),
    Index("ix_metric_points_ts", "ts"),
)

request_records = Table(
    "request_records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    *_common(),
    Column("method", String(16), nullable=False),
    Column("route", String(500), nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("duration_ms", Double, nullable=False),
    Column("unhandled", Boolean, nullable=False, default=False),
    Index("ix_request_records_request_id", "request_id"),
    Index("ix_request_records_service_ts", "service", "ts"),
    Index("ix_request_records_ts", "ts"),
)


def _bucket_columns() -> list[Column]:
    return [Column(name, BigInteger, nullable=False, default=0) for name in BUCKET_COLUMNS]


request_rollups = Table(
    "request_rollups",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("minute", BigInteger, nullable=False),  # epoch seconds at the start of the minute
    Column("service", String(200), nullable=False),
    Column("environment", String(200), nullable=False),
    Column("route", String(500), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("duration_sum", Double, nullable=False),
    *_bucket_columns(),
    UniqueConstraint("project_id", "minute", "service", "environment", "route"),
    Index("ix_request_rollups_minute", "minute"),
    Index("ix_request_rollups_service_minute", "service", "minute"),
)

metric_rollups = Table(
    "metric_rollups",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("minute", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("service", String(200), nullable=False),
    Column("environment", String(200), nullable=False),
    Column("tags_hash", String(32), nullable=False),  # identifies the tag set in the key
    Column("tags", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("sum", Double, nullable=False),
    Column("min", Double, nullable=False),
    Column("max", Double, nullable=False),
    Column("last", Double, nullable=False),
    *_bucket_columns(),
    UniqueConstraint("project_id", "minute", "name", "service", "environment", "tags_hash"),
    Index("ix_metric_rollups_name_minute", "name", "minute"),
    Index("ix_metric_rollups_minute", "minute"),
)

log_rollups = Table(
    "log_rollups",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("minute", BigInteger, nullable=False),
    Column("service", String(200), nullable=False),
    Column("environment", String(200), nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    UniqueConstraint("project_id", "minute", "service", "environment", "level"),
    Index("ix_log_rollups_minute", "minute"),
)

# Ids of SDK batches already stored, with the answer they got: a retried batch
# (X-Lookout-Batch-Id) is recognised, writes nothing and gets the same answer.
# Claimed in the transaction that writes the batch's rows (collector.batch_ids).
ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("received_at", Double, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Text, nullable=False, default="[]"),  # JSON list, as answered
    UniqueConstraint("project_id", "batch_id"),
    Index("ix_ingest_batches_received_at", "received_at"),
)

# One row per span of a trace: the root span of a Sentry transaction and its
# children, standalone Sentry spans, OTLP spans (collector.spans). Looked up by
# trace id and by request id (the request page's waterfall), aged out by ``ts``.
spans = Table(
    "spans",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    *_common(),  # ts = the span's start
    Column("span_id", String(32), nullable=False),
    Column("parent_span_id", String(32), nullable=True),
    Column("name", String(500), nullable=False, default=""),
    Column("op", String(100), nullable=False, default=""),  # http.server, db.query, ...
    Column("kind", String(16), nullable=False, default=""),  # server, client, internal, ...
    Column("duration_ms", Double, nullable=False),
    Column("status", String(32), nullable=False, default=""),  # ok, error, not_found, ...
    # 1 / sample_rate spans like this one happened; 1.0 when the client did not say.
    Column("sample_rate", Double, nullable=False, default=1.0),
    Column("source", String(20), nullable=False, default="sentry"),  # sentry | otlp
    Index("ix_spans_project_id_trace_id", "project_id", "trace_id"),
    Index("ix_spans_project_id_request_id", "project_id", "request_id"),
    Index("ix_spans_ts", "ts"),
)

RAW_TABLES = (logs, errors, metric_points, request_records, spans)
ROLLUP_TABLES = (request_rollups, metric_rollups, log_rollups)
