"""Read functions over spans: the waterfall of one trace or one request.

The request page and the read API call these rather than querying ``spans``
themselves. Both lookups use the ``(project_id, trace_id)`` and
``(project_id, request_id)`` indexes: the caller names the projects it may
see (the read API: every project), so each is one index range per project.
Rows come back oldest first, parents before the children that start with
them, capped at ``limit`` (a trace of many thousand spans stays one bounded
query; ``truncated`` says when the cap cut it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import tables as t
from lookout.db import read_connection
from lookout.projects import list_projects

_decode = msgspec.json.decode
DEFAULT_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class Spans:
    """Spans of one trace or request, and whether ``limit`` cut the list short."""

    items: list[dict[str, Any]]
    truncated: bool


def span_item(row: Any) -> dict[str, Any]:
    """A span as the read API shows it (``kind: "span"`` like the timeline's items)."""
    return {"kind": "span", "id": row.id, "ts": row.ts, "project_id": row.project_id,
            "service": row.service, "environment": row.environment, "release": row.release,
            "host": row.host, "request_id": row.request_id, "trace_id": row.trace_id,
            "span_id": row.span_id, "parent_span_id": row.parent_span_id, "name": row.name,
            "op": row.op, "span_kind": row.kind, "duration_ms": row.duration_ms,
            "status": row.status, "sample_rate": row.sample_rate, "source": row.source,
            "attributes": _decode(row.attributes) if row.attributes else {}}


async def _project_ids(engine: AsyncEngine, project_ids: Iterable[int] | None) -> list[int]:
    if project_ids is not None:
        return sorted(set(project_ids))
    return [p.id for p in await list_projects(engine)]


async def _spans(engine: AsyncEngine, column: Any, value: str, project_ids: Iterable[int] | None,
                 limit: int) -> Spans:
    ids = await _project_ids(engine, project_ids)
    if not ids or not value:
        return Spans([], False)
    query = (select(t.spans).where(t.spans.c.project_id.in_(ids), column == value)
             .order_by(t.spans.c.ts, t.spans.c.id).limit(limit + 1))
    async with read_connection(engine) as conn:
        rows = (await conn.execute(query)).all()
    return Spans([span_item(r) for r in rows[:limit]], len(rows) > limit)


async def spans_for_trace(engine: AsyncEngine, trace_id: str,
                          project_ids: Iterable[int] | None = None,
                          limit: int = DEFAULT_LIMIT) -> Spans:
    """Every span of trace ``trace_id`` (32 hex), oldest first; all projects when None."""
    return await _spans(engine, t.spans.c.trace_id, trace_id.lower(), project_ids, limit)


async def spans_for_request(engine: AsyncEngine, request_id: str,
                            project_ids: Iterable[int] | None = None,
                            limit: int = DEFAULT_LIMIT) -> Spans:
    """Every span carrying ``request_id`` (the ids of its request record), oldest first."""
    return await _spans(engine, t.spans.c.request_id, request_id, project_ids, limit)
