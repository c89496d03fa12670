"""Small reads that show the evidence behind an alert (for rules.context).

An alert says *what* is wrong: the routes failing behind an error rate, the
issue with the most events, a few of the log lines counted, a metric's recent
values. Each read is bounded (a handful of rows, one window, indexed columns)
because it runs whenever an alert's Slack message is posted or updated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import issue_tables
from collector import tables as t
from collector.buckets import COLUMNS as BUCKETS
from collector.queries import _like_escape, level_name
from collector.rollup_queries import MetricAggregate
from collector.rollups import minute_of


@dataclass(frozen=True, slots=True)
class RouteErrors:
    route: str
    count: int
    errors: int


def _labels(columns: Any, service: str | None, environment: str | None) -> list[Any]:
    conds = []
    if service is not None:
        conds.append(columns.service == service)
    if environment is not None:
        conds.append(columns.environment == environment)
    return conds


def _minutes(columns: Any, since: float, until: float) -> list[Any]:
    return [columns.minute >= minute_of(since), columns.minute < math.ceil(until)]


async def failing_routes(engine: AsyncEngine, since: float, until: float, *,
                         service: str | None = None, environment: str | None = None,
                         limit: int = 3) -> list[RouteErrors]:
    """The routes with the most server errors in the window (from the request rollups)."""
    c = t.request_rollups.c
    errors = func.sum(c.errors)
    query = (select(c.route, func.sum(c["count"]), errors)
             .where(*_minutes(c, since, until), *_labels(c, service, environment))
             .group_by(c.route).having(errors > 0).order_by(desc(errors), c.route).limit(limit))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [RouteErrors(r[0], int(r[1] or 0), int(r[2] or 0)) for r in rows]


async def top_issues(engine: AsyncEngine, since: float, until: float, *,
                     service: str | None = None, environment: str | None = None,
                     limit: int = 1) -> list[dict[str, Any]]:
    """The issues with the most events in the window: ``{"id", "title", "count"}``."""
    e, i = t.errors.c, issue_tables.issues.c
    count = func.count()
    events = (select(e.issue_id, count.label("n"))
              .where(e.ts >= since, e.ts < until, e.issue_id.is_not(None),
                     *_labels(e, service, environment))
              .group_by(e.issue_id).order_by(desc(count), e.issue_id).limit(limit).subquery())
    query = (select(events.c.issue_id, events.c.n, i.title)
             .join(issue_tables.issues, i.id == events.c.issue_id).order_by(desc(events.c.n)))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [{"id": r.issue_id, "title": r.title, "count": int(r.n)} for r in rows]


async def sample_logs(engine: AsyncEngine, since: float, until: float, *,
                      service: str | None = None, environment: str | None = None,
                      min_level: int | None = None, text: str | None = None,
                      limit: int = 3) -> list[dict[str, Any]]:
    """The newest log lines of the window matching a log_count rule's filter."""
    c = t.logs.c
    conds = [c.ts >= since, c.ts < until, *_labels(c, service, environment)]
    if min_level is not None:
        conds.append(c.level >= min_level)
    if text:
        conds.append(c.message.ilike(f"%{_like_escape(text)}%", escape="\\"))
    query = (select(c.ts, c.level, c.service, c.message, c.request_id).where(*conds)
             .order_by(c.ts.desc(), c.id.desc()).limit(limit))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [{"ts": r.ts, "level": level_name(r.level), "service": r.service,
             "message": r.message, "request_id": r.request_id} for r in rows]


async def metric_minutes(engine: AsyncEngine, name: str, since: float, until: float, *,
                         service: str | None = None, environment: str | None = None
                         ) -> list[tuple[int, MetricAggregate]]:
    """Metric ``name`` per minute of the window, oldest first (labels merged)."""
    c = t.metric_rollups.c
    query = (select(c.minute, func.sum(c["count"]), func.sum(c["sum"]), func.min(c["min"]),
                    func.max(c["max"]), *[func.sum(c[b]) for b in BUCKETS])
             .where(c.name == name, *_minutes(c, since, until), *_labels(c, service, environment))
             .group_by(c.minute).order_by(c.minute))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [(int(r[0]), MetricAggregate(service or "", environment or "", int(r[1] or 0),
                                        float(r[2] or 0.0), float(r[3]), float(r[4]),
                                        tuple(int(x or 0) for x in r[5:]))) for r in rows]
