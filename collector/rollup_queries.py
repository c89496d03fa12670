"""Read functions over the per-minute rollups (and bounded raw scans) for the rule engine
and the UI's overview charts (``request_series``, at the end).

Each function answers for *all* services at once, grouped by service and
environment, so an evaluation tick makes one query per (kind, window) however
many rules and services there are, and reads a number of rows bounded by
minutes x label sets, not by traffic. A window ``[since, until)`` is widened
to whole minutes: the minute containing ``since`` counts in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import Integer, cast, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import tables as t
from collector.buckets import COLUMNS as BUCKETS
from collector.buckets import quantile
from collector.queries import _like_escape
from collector.rollups import minute_of


@dataclass(frozen=True, slots=True)
class RequestRate:
    service: str
    environment: str
    count: int
    errors: int


@dataclass(frozen=True, slots=True)
class MetricAggregate:
    service: str
    environment: str
    count: int
    sum: float
    min: float
    max: float
    buckets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LogCount:
    service: str
    environment: str
    count: int


@dataclass(frozen=True, slots=True)
class LastSeen:
    service: str
    environment: str
    minute: int  # start of the last minute with any data


def _minutes(table: object, since: float, until: float) -> list[object]:
    """Whole-minute bounds as integers: a float bound makes PostgreSQL compare the
    bigint column as double precision and skip its index."""
    c = table.c  # type: ignore[attr-defined]
    return [c.minute >= minute_of(since), c.minute < math.ceil(until)]


async def request_rates(engine: AsyncEngine, since: float, until: float) -> list[RequestRate]:
    """Requests and server errors per service/environment in the window."""
    c = t.request_rollups.c
    query = (select(c.service, c.environment, func.sum(c.count), func.sum(c.errors))
             .where(*_minutes(t.request_rollups, since, until))
             .group_by(c.service, c.environment))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [RequestRate(r[0], r[1], int(r[2] or 0), int(r[3] or 0)) for r in rows]


async def metric_aggregates(engine: AsyncEngine, name: str, since: float,
                            until: float) -> list[MetricAggregate]:
    """count/sum/min/max and merged histogram buckets of metric ``name`` per service/env."""
    c = t.metric_rollups.c
    query = (select(c.service, c.environment, func.sum(c["count"]), func.sum(c["sum"]),
                    func.min(c["min"]), func.max(c["max"]),
                    *[func.sum(c[b]) for b in BUCKETS])
             .where(c.name == name, *_minutes(t.metric_rollups, since, until))
             .group_by(c.service, c.environment))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [MetricAggregate(r[0], r[1], int(r[2] or 0), float(r[3] or 0.0), float(r[4]),
                            float(r[5]), tuple(int(x or 0) for x in r[6:])) for r in rows]


async def log_counts(engine: AsyncEngine, since: float, until: float, *,
                     min_level: int | None = None, text: str | None = None) -> list[LogCount]:
    """Log lines per service/env at ``min_level`` or above, optionally containing ``text``.

    Without ``text`` this reads the log rollups; with it, the raw rows of the
    window (callers keep such windows short).
    """
    if text is None:
        c = t.log_rollups.c
        conds = _minutes(t.log_rollups, since, until)
        count = func.sum(c["count"])
    else:
        c = t.logs.c
        conds = [c.ts >= since, c.ts < until,
                 c.message.ilike(f"%{_like_escape(text)}%", escape="\\")]
        count = func.count()
    if min_level is not None:
        conds.append(c.level >= min_level)
    query = select(c.service, c.environment, count).where(*conds).group_by(c.service,
                                                                           c.environment)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [LogCount(r[0], r[1], int(r[2] or 0)) for r in rows]


async def services_last_seen(engine: AsyncEngine, since: float, until: float) -> list[LastSeen]:
    """Every service/environment that sent requests, logs or metrics in ``[since, until)``,
    with the last minute it did."""
    # The closed range matters: with only ``minute >= x``, SQLite scans the whole
    # (service, minute) index for max(minute) instead of the recent minutes.
    parts = [select(tb.c.service, tb.c.environment, func.max(tb.c.minute).label("minute"))
             .where(*_minutes(tb, since, until)).group_by(tb.c.service, tb.c.environment)
             for tb in (t.request_rollups, t.log_rollups, t.metric_rollups)]
    u = union_all(*parts).subquery()
    query = select(u.c.service, u.c.environment, func.max(u.c.minute)).group_by(
        u.c.service, u.c.environment)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [LastSeen(r[0], r[1], int(r[2])) for r in rows]


# --- the UI's overview charts ---------------------------------------------------------

@dataclass(slots=True)
class ServiceSeries:
    """One service's request traffic in equal steps; index i covers [start + i*step, ...)."""

    service: str
    start: float
    step: float
    requests: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    p95_ms: list[float | None] = field(default_factory=list)
    total_requests: int = 0
    total_errors: int = 0
    total_p95_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.total_errors / self.total_requests if self.total_requests else None


async def request_series(engine: AsyncEngine, since: float, until: float, steps: int,
                         environment: str | None = None) -> list[ServiceSeries]:
    """Per-service request count, error count and p95 latency in ``steps`` slices.

    ``since`` is rounded down to a whole minute (rollups are per minute); the
    step is a whole number of minutes. Services are sorted by traffic, busiest first.
    """
    start = int(since // 60) * 60
    step = max(60, math.ceil((until - start) / steps / 60) * 60)
    r = t.request_rollups.c
    slot = cast(func.floor((r.minute - start) / step), Integer).label("slot")
    query = (select(r.service, slot, func.sum(r.count), func.sum(r.errors),
                    *(func.sum(r[b]) for b in BUCKETS))
             .where(r.minute >= start, r.minute < math.ceil(until))
             .group_by(r.service, literal_column("slot")))
    if environment:
        query = query.where(r.environment == environment)
    by_service: dict[str, ServiceSeries] = {}
    totals: dict[str, list[int]] = {}
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    for row in rows:
        service, index = row[0], int(row[1])
        if not 0 <= index < steps:
            continue
        series = by_service.get(service)
        if series is None:
            series = by_service[service] = ServiceSeries(
                service, start, step, [0] * steps, [0] * steps, [None] * steps)
            totals[service] = [0] * len(BUCKETS)
        counts = [int(x or 0) for x in row[4:]]
        series.requests[index] += int(row[2] or 0)
        series.errors[index] += int(row[3] or 0)
        series.p95_ms[index] = quantile(counts, 0.95)
        totals[service] = [a + b for a, b in zip(totals[service], counts)]
    for name, series in by_service.items():
        series.total_requests = sum(series.requests)
        series.total_errors = sum(series.errors)
        series.total_p95_ms = quantile(totals[name], 0.95)
    return sorted(by_service.values(), key=lambda s: (-s.total_requests, s.service))
