"""HTML pages: overview (``/``), search (``/search``) and request page (``/requests/{id}``).

Handlers only parse parameters, call read functions of the collector and
render; the query language (web.query), time ranges (web.timerange), charts
(web.charts) and the span waterfall (web.waterfall, drawn by
web.waterfall_html) are modules tested on their own.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect, Template

from collector import issue_queries, queries, rollup_queries, span_queries
from collector.issue_queries import IssueQuery
from collector.normalize import check_request_id
from collector.queries import LogQuery, QueryError
from collector.search_budget import SearchLimits, SearchTooExpensive
from collector.shown import Shown
from lookout.db import now
from lookout.http import services
from lookout.projects import dsn_for, list_projects
from web import alert_pages, charts, waterfall, waterfall_html
from web.query import QuerySyntaxError, parse, request_id_candidate
from web.timerange import PRESETS, TimeRange, parse_range
from web.ui import page, request_path

PAGE_SIZE = 50
# The result count stops here ("10,000+"): counting every match of a common word
# over 7 days took seconds; the newest 10,000 take milliseconds (collector.search).
COUNT_CAP = 10_000
RECENT_ISSUES = 5
T = TypeVar("T")


def _range(request: Request) -> TimeRange:
    p = request.query_params
    return parse_range(p.get("range"), p.get("from"), p.get("to"), now())


async def _getting_started(request: Request) -> dict[str, object]:
    svc = services(request)
    projects = await list_projects(svc.engine)
    return {"projects": [{"name": p.name, "dsn": dsn_for(svc.settings.base_url, p.id,
                                                             p.public_key)} for p in projects]}


@get("/")
async def overview(request: Request) -> Template:
    svc = services(request)
    try:
        tr = _range(request)
    except QueryError as exc:
        return page(request, "error.html", 400, title="Bad time range", message=str(exc))
    if not await queries.has_records(svc.engine):
        return page(request, "overview.html", empty=True, tr=tr, presets=PRESETS,
                    **await _getting_started(request))
    series, (recent_issues, _), alerts = await asyncio.gather(
        rollup_queries.request_series(svc.engine, tr.since, tr.until, 60),
        issue_queries.list_issues(svc.engine, IssueQuery(status="unresolved",
                                                         limit=RECENT_ISSUES), now()),
        alert_pages.open_alerts(request))
    rows = []
    for s in series:
        rates = [c / (s.step / 60) for c in s.requests]
        error_rates = [e / c if c else None for e, c in zip(s.errors, s.requests)]
        rows.append({
            "service": s.service,
            "requests": s.total_requests,
            "rate": charts.fmt_rate(s.total_requests / max((tr.until - tr.since) / 60, 1)),
            "error_rate": charts.fmt_percent(s.error_rate) if s.error_rate is not None else "–",
            "p95": charts.fmt_ms(s.total_p95_ms) if s.total_p95_ms is not None else "–",
            "rate_chart": charts.line_chart(rates, s.start, s.step, label="requests per minute",
                                            fmt=charts.fmt_rate),
            "error_chart": charts.line_chart(error_rates, s.start, s.step, label="error rate",
                                             fmt=charts.fmt_percent, css_class="errors"),
            "p95_chart": charts.line_chart(s.p95_ms, s.start, s.step, label="p95 latency",
                                           fmt=charts.fmt_ms, css_class="latency"),
            "search": "/search?" + urlencode({"q": f"service:{_quote(s.service)} level:error",
                                              **tr.params()}),
        })
    return page(request, "overview.html", empty=False, tr=tr, presets=PRESETS, rows=rows,
                issues=recent_issues, alerts=alerts)


def _quote(value: str) -> str:
    if value and not any(ch.isspace() or ch == '"' for ch in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@get("/search")
async def search(request: Request) -> Response | Template:
    svc = services(request)
    p = request.query_params
    q = (p.get("q") or "").strip()
    cursor = p.get("cursor") or None
    candidate = request_id_candidate(q)
    if candidate and not cursor and (await queries.request_exists(svc.engine, candidate)
                                     or await span_queries.trace_exists(svc.engine, candidate)):
        return Redirect(request_path(candidate), status_code=303)
    context: dict[str, object] = {"q": q, "presets": PRESETS}
    limits = SearchLimits.from_settings(svc.settings)
    try:
        tr = _range(request)
        context["tr"] = tr
        parsed = parse(q)
        query = LogQuery(terms=parsed.text, min_level=parsed.level, service=parsed.service,
                         environment=parsed.environment, logger=parsed.logger,
                         request_id=parsed.request_id, attributes=parsed.attributes,
                         trace_id=parsed.trace_id, span=parsed.span,
                         since=tr.since, until=tr.until, limit=PAGE_SIZE, cursor=cursor)
        # The page and the histogram are independent reads: run them side by side. Both
        # are awaited (neither outlives the request); a count over budget only loses the count.
        found, counted = await asyncio.gather(
            queries.search_logs(svc.engine, query, limits, Shown.from_settings(svc.settings)),
            queries.count_logs(svc.engine, query, tr.since, tr.until, tr.buckets, COUNT_CAP,
                               limits), return_exceptions=True)
        items, next_cursor = _result(found)
        counts = None if isinstance(counted, SearchTooExpensive) else _result(counted)
    except (QueryError, QuerySyntaxError) as exc:
        if "tr" not in context:
            context["tr"] = parse_range(None, None, None, now())
        return page(request, "search.html", 400, error=str(exc), items=[], **context)
    except SearchTooExpensive as exc:
        return page(request, "search.html", 422, error=str(exc), too_expensive=True, items=[],
                    **context)

    def link(lo: float, hi: float) -> str:
        return "/search?" + urlencode({"q": q, "range": "custom", "from": f"{lo:.3f}",
                                       "to": f"{hi:.3f}"})

    base = {"q": q, **tr.params()}
    if counts is None:
        context.update(count_budget=f"{limits.time_budget:g}", total=0, capped=False,
                       counted_from=None, histogram="")
    else:
        context.update(total=min(counts.total, COUNT_CAP), capped=counts.capped,
                       counted_from=counts.counted_from,
                       histogram=charts.histogram(counts.counts, tr.since, tr.until, link=link,
                                                  counted_from=counts.counted_from))
    context.update(
        items=items,
        next_url="/search?" + urlencode({**base, "cursor": next_cursor}) if next_cursor else None,
        first_url="/search?" + urlencode(base) if cursor else None,
        maybe_request_id=candidate if candidate and not items else None,
        trace_link=request_path(parsed.trace_id) if parsed.trace_id else None,
        empty_db=False,
    )
    if not items and not cursor and not await queries.has_records(svc.engine):
        context.update(empty_db=True, **await _getting_started(request))
    return page(request, "search.html", **context)


def _result(value: T | BaseException) -> T:
    """One ``gather(..., return_exceptions=True)`` result, its exception raised."""
    if isinstance(value, BaseException):
        raise value
    return value


@get("/requests/{request_id:path}")
async def request_timeline(request: Request, request_id: FromPath[str]) -> Template:
    # A ``path`` parameter: request ids may contain "/" (valid at ingest), which a
    # ``str`` parameter stops at. Litestar hands it over with the leading "/".
    request_id = request_id.removeprefix("/")
    try:
        check_request_id(request_id)
    except ValueError as exc:
        return page(request, "error.html", 400, title="Not a request ID", message=str(exc))
    svc = services(request)
    found = await span_queries.request_trace(svc.engine, request_id,
                                             svc.settings.max_waterfall_spans,
                                             Shown.from_settings(svc.settings))
    items = found.items
    if not items and not found.spans:
        return page(request, "request.html", 404, request_id=request_id, items=[],
                    services=[], summary=None, waterfall=None)
    fall = waterfall.build(found.spans, items, found.total_spans) if found.spans else None
    svc_order = list(fall.services) if fall else []
    for item in items:
        if item["service"] not in svc_order:
            svc_order.append(item["service"])
    summary = _summary(items, request_id, found.trace_id, fall)
    start = min(([items[0]["ts"]] if items else []) + ([fall.start] if fall else []))
    for item in items:
        item["offset_ms"] = (item["ts"] - start) * 1000
        item["lane"] = svc_order.index(item["service"]) % waterfall.PALETTE_SIZE
    return page(request, "request.html", request_id=request_id, items=items,
                services=svc_order, summary=summary, waterfall=fall, trace_id=found.trace_id,
                waterfall_section=waterfall_html.render(fall, found.trace_id) if fall else "",
                started=start, errors=sum(1 for i in items if i["kind"] == "error"))


def _summary(items: list[dict], request_id: str, trace_id: str | None,
             fall: waterfall.Waterfall | None) -> dict | None:
    """The request record the page is about: the one with this request id -- unless the id
    is the trace id, then the record of the trace's first root span (the entry point) --
    else the first request record."""
    requests = [i for i in items if i["kind"] == "request"]
    if fall and fall.rows and request_id.lower() == trace_id:
        root = fall.rows[0].span["span_id"]
        for item in requests:
            if (item.get("attributes") or {}).get("span_id") == root:
                return item
    return next((i for i in requests if i["request_id"] == request_id),
                requests[0] if requests else None)


routes = [overview, search, request_timeline]
