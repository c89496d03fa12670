"""Lookout's own Prometheus metrics, served at ``GET /metrics``.

A private registry (not the global default) so tests can create several apps
in one process without "duplicated timeseries" errors, and so only Lookout's
own series are exported.
"""

from __future__ import annotations

import asyncio

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
INGEST_DUPLICATE_BATCHES = Counter(
    "lookout_ingest_duplicate_batches_total",
    "SDK batches received again after they were stored (retries); nothing was written.",
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


# The render in progress, per event loop: scrapes that arrive meanwhile share it.
_rendering: dict[asyncio.AbstractEventLoop, asyncio.Future[bytes]] = {}


async def render_off_loop() -> bytes:
    """:func:`render` on a worker thread, at most one at a time per event loop.

    Rendering walks every series; on the event loop it would hold up every request
    for as long as it takes (a client-fed label once made that 22 s). On a thread
    the loop keeps answering, and concurrent scrapes wait for the same render
    instead of starting one each, so a scrape flood costs one thread, not many.
    """
    loop = asyncio.get_running_loop()
    future = _rendering.get(loop)
    if future is None:
        future = loop.run_in_executor(None, render)
        _rendering[loop] = future
        future.add_done_callback(lambda _: _rendering.pop(loop, None))
    return await asyncio.shield(future)

RULE_TICK_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
TICK_SECONDS = Histogram("lookout_rule_tick_seconds",
                         "Time for one full evaluation tick (all rules, state and outbox).",
                         registry=REGISTRY, buckets=RULE_TICK_SECONDS_BUCKETS)
TICKS = Counter("lookout_rule_ticks_total", "Evaluation ticks run by this instance.",
                registry=REGISTRY)
TICK_FAILURES = Counter("lookout_rule_tick_failures_total",
                        "Evaluation ticks that failed as a whole (e.g. database unreachable).",
                        registry=REGISTRY)
RULE_SECONDS = Histogram("lookout_rule_evaluation_seconds", "Time to evaluate one rule.",
                         registry=REGISTRY, buckets=RULE_TICK_SECONDS_BUCKETS)
RULE_FAILURES = Counter("lookout_rule_evaluation_failures_total",
                        "Rule evaluations that raised (the rule kept its state), by rule.",
                        ["rule"], registry=REGISTRY)
RULES_LOADED = Gauge("lookout_rules_loaded", "Rules currently loaded.", registry=REGISTRY)
RULE_RELOAD_FAILURES = Counter("lookout_rule_reload_failures_total",
                               "Rules-file reloads refused (the old rules were kept).",
                               registry=REGISTRY)
NOTIFICATIONS_QUEUED = Counter("lookout_notifications_queued_total",
                               "Outbox rows written, by event.", ["event"], registry=REGISTRY)
SLACK_CALLS = Counter("lookout_slack_calls_total", "Slack Web API calls, by method and outcome.",
                      ["method", "outcome"], registry=REGISTRY)

# Storage (lookout/storage.py): set by its periodic job, never computed on a scrape.
STORAGE_ROWS = Gauge("lookout_storage_rows", "Rows in a table (PostgreSQL: the planner's "
                     "estimate, pg_class.reltuples).", ["table"], registry=REGISTRY)
STORAGE_BYTES = Gauge("lookout_storage_bytes", "Bytes a table takes with its indexes.",
                      ["table"], registry=REGISTRY)
STORAGE_OLDEST_DAY = Gauge("lookout_storage_oldest_day_timestamp",
                           "Start (UTC midnight, epoch seconds) of the oldest day a table "
                           "still holds rows of.", ["table"], registry=REGISTRY)
