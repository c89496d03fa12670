"""Read functions over the per-minute request rollups, for charts.

Reading rollups instead of raw request records keeps the overview's cost
proportional to minutes × services × routes, whatever the traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import Integer, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import tables as t
from collector.buckets import COLUMNS as BUCKETS
from collector.buckets import quantile


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
             .where(r.minute >= start, r.minute < until)
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
