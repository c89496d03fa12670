"""Lookout's own Prometheus metrics, served at ``GET /metrics``.

A private registry (not the global default) so tests can create several apps
in one process without "duplicated timeseries" errors, and so only Lookout's
own series are exported.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

RECORDS_ACCEPTED = Counter("lookout_ingest_records_accepted_total",
                           "Records stored, by kind and protocol.", ["kind", "protocol"],
                           registry=REGISTRY)
RECORDS_REJECTED = Counter("lookout_ingest_records_rejected_total",
                           "Records refused at validation, by kind and protocol.",
                           ["kind", "protocol"], registry=REGISTRY)
REQUESTS_REFUSED = Counter("lookout_ingest_requests_refused_total",
                           "Whole ingest requests refused, by HTTP status.", ["status"],
                           registry=REGISTRY)
SDK_DROPPED = Counter("lookout_sdk_dropped_records_total",
                      "Records SDKs reported dropping client-side (queue overflow), by kind.",
                      ["kind"], registry=REGISTRY)
INGEST_BACKPRESSURE = Counter("lookout_ingest_backpressure_total",
                              "Ingest requests answered 503 because the write queue was full.",
                              registry=REGISTRY)
WRITE_QUEUE = Gauge("lookout_write_queue_records", "Records waiting for the writer.",
                    registry=REGISTRY)
WRITE_LATENCY = Histogram("lookout_write_batch_seconds",
                          "Time to commit one writer transaction.", registry=REGISTRY,
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                   2.5, 5, 10))
WRITE_BATCH_RECORDS = Histogram("lookout_write_batch_records",
                                "Records committed per writer transaction.", registry=REGISTRY,
                                buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000, 50000))
WRITE_FAILURES = Counter("lookout_write_failures_total",
                         "Writer transactions that failed (clients got 503).", registry=REGISTRY)
RETENTION_DELETED = Counter("lookout_retention_deleted_rows_total",
                            "Rows removed by retention, by table.", ["table"], registry=REGISTRY)


def render() -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(REGISTRY)
