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

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import queries
from collector import tables as t
from collector.shown import Shown
from lookout.db import read_connection
from lookout.projects import list_projects

_decode = msgspec.json.decode
DEFAULT_LIMIT = 5000
TRACE_ID_RE = re.compile(r"[0-9a-fA-F]{32}")
# Request ids of other services' requests in one trace whose records a request page
# gathers (each one indexed lookup); a trace fanning out wider shows the first ones.
MAX_RELATED_REQUESTS = 20


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


async def trace_span_count(engine: AsyncEngine, trace_id: str,
                           project_ids: Iterable[int] | None = None) -> int:
    """How many spans trace ``trace_id`` has (an index-only count per project)."""
    ids = await _project_ids(engine, project_ids)
    if not ids or not trace_id:
        return 0
    query = select(func.count()).select_from(t.spans).where(
        t.spans.c.project_id.in_(ids), t.spans.c.trace_id == trace_id.lower())
    async with read_connection(engine) as conn:
        return int((await conn.execute(query)).scalar_one())


async def trace_exists(engine: AsyncEngine, trace_id: str,
                       project_ids: Iterable[int] | None = None) -> bool:
    """Whether any span of trace ``trace_id`` is stored (finding a request by its trace id)."""
    if not TRACE_ID_RE.fullmatch(trace_id):
        return False
    ids = await _project_ids(engine, project_ids)
    query = select(t.spans.c.id).where(t.spans.c.project_id.in_(ids),
                                       t.spans.c.trace_id == trace_id.lower()).limit(1)
    async with read_connection(engine) as conn:
        return (await conn.execute(query)).first() is not None


@dataclass(frozen=True, slots=True)
class RequestTrace:
    """What the request page shows: the records of a request (and of the other services'
    requests in its trace), the trace's spans (at most ``limit``) and their total."""

    request_id: str
    trace_id: str | None
    items: list[dict[str, Any]]
    spans: list[dict[str, Any]]
    total_spans: int


def _trace_of(items: list[dict[str, Any]]) -> str | None:
    """The trace of a request: its request record's, else the first record's that has one."""
    for kinds in (("request",), ("request", "log", "error")):
        for item in items:
            if item["kind"] in kinds and item.get("trace_id"):
                return str(item["trace_id"]).lower()
    return None


async def request_trace(engine: AsyncEngine, request_id: str, span_limit: int,
                        shown: Shown | None = None) -> RequestTrace:
    """Everything about the request with id ``request_id`` -- or with trace id ``request_id``.

    Finds the trace (the request record's trace id; else a span carrying the
    request id; else the id itself when it is a stored trace id), its spans
    (the earliest ``span_limit``) and, when it has spans, the records of
    every request whose spans are in that trace (other services' request
    ids), so one page shows the whole request across services. Every lookup
    is indexed.
    """
    shown = shown or Shown()
    items = await queries.request_timeline(engine, request_id, shown=shown)
    projects = await _project_ids(engine, None)  # once, not per lookup
    trace_id = _trace_of(items)
    if trace_id is None:
        found = await spans_for_request(engine, request_id, projects, limit=1)
        if found.items:
            trace_id = found.items[0]["trace_id"]
        elif await trace_exists(engine, request_id, projects):
            trace_id = request_id.lower()
    if trace_id is None:
        return RequestTrace(request_id, None, items, [], 0)
    spans = await spans_for_trace(engine, trace_id, projects, limit=span_limit)
    if not spans.items:
        # No spans, no trace to show: a trace id alone is not a request (sentry-sdk without
        # tracing stamps every event of a process with one propagation trace id).
        return RequestTrace(request_id, trace_id, items, [], 0)
    total = len(spans.items)
    if spans.truncated:
        total = await trace_span_count(engine, trace_id, projects)
    shown_spans = spans.items
    window = (-math.inf, math.inf)
    if request_id.lower() != trace_id:
        path = _request_path(spans.items, request_id)
        if path:  # the request has spans of its own: show its part of the trace
            shown_spans = path
            total = len(path)
            window = (min(s["ts"] for s in path),
                      max(s["ts"] + (s["duration_ms"] or 0) / 1000 for s in path))
    on_path = {s["span_id"] for s in shown_spans}
    related: list[str] = []
    for candidate in [trace_id] + [s["request_id"] for s in shown_spans]:
        if candidate and candidate != request_id and candidate not in related:
            related.append(candidate)
    seen = {(i["kind"], i["id"]) for i in items}
    for other in related[:MAX_RELATED_REQUESTS]:
        for item in await queries.request_timeline(engine, other, shown=shown):
            if (item["kind"], item["id"]) in seen:
                continue
            if other == trace_id and not _on_path(item, on_path, window):
                continue  # a record of the trace, but of another request's part of it
            seen.add((item["kind"], item["id"]))
            items.append(item)
    rank = {"request": 0, "log": 1, "error": 2}
    items.sort(key=lambda i: (i["ts"], rank.get(i["kind"], 3), i["id"]))
    return RequestTrace(request_id, trace_id, items, shown_spans, total)


def _request_path(spans: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    """The spans of ``request_id``'s part of its trace, in ``spans``' order: its own spans,
    everything below them (the requests it called) and the chain above them (who called
    it) -- not its siblings: one trace can hold many requests of one service (a browser
    page load's API calls, a job's HTTP calls), and each of them has a page of its own.
    Empty when the request has no spans."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        children.setdefault(s["parent_span_id"], []).append(s)
    own = [s for s in spans if s["request_id"] == request_id]
    keep: set[str] = set()
    stack = list(own)
    while stack:  # descendants
        span = stack.pop()
        if span["span_id"] not in keep:
            keep.add(span["span_id"])
            stack.extend(children.get(span["span_id"], []))
    for span in own:  # ancestors
        parent = by_id.get(span["parent_span_id"])
        while parent is not None and parent["span_id"] not in keep:
            keep.add(parent["span_id"])
            parent = by_id.get(parent["parent_span_id"])
    return [s for s in spans if s["span_id"] in keep]


def _on_path(item: dict[str, Any], on_path: set[str], window: tuple[float, float]) -> bool:
    """Whether a record known only by its trace id belongs to the shown part of the trace:
    it names one of its spans, or, naming none, happened while those spans ran."""
    span_id = item_span_id(item)
    if span_id is not None:
        return span_id in on_path
    return window[0] <= item["ts"] <= window[1]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def item_span_id(item: dict[str, Any]) -> str | None:
    """The span a log or error says it happened in, if it says so."""
    attrs, extra = _dict(item.get("attributes")), _dict(item.get("extra"))
    for value in (attrs.get("span_id"), _dict(extra.get("span")).get("span_id"),
                  _dict(_dict(extra.get("contexts")).get("trace")).get("span_id")):
        if isinstance(value, str) and value:
            return value.lower()
    return None
