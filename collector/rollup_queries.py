"""Read functions over the per-minute rollups (and bounded raw scans) for the rule engine.

Each function answers for *all* services at once, grouped by service and
environment, so an evaluation tick makes one query per (kind, window) however
many rules and services there are, and reads a number of rows bounded by
minutes x label sets, not by traffic. A window ``[since, until)`` is widened
to whole minutes: the minute containing ``since`` counts in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import tables as t
from collector.buckets import COLUMNS as BUCKETS
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
