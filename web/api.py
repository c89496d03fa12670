"""Read API: ``/api/v1/requests/{request_id}`` (records and span waterfall) and ``/api/v1/logs``."""

from __future__ import annotations

from litestar import Request, Response, Router, get
from litestar.params import FromPath

from collector import queries, span_queries
from collector.normalize import check_request_id
from collector.queries import LogQuery, QueryError
from collector.search_budget import SearchLimits, SearchTooExpensive
from collector.shown import Shown
from lookout.db import now
from lookout.http import error_response, json_response, services
from web import waterfall
from web.auth import require_reader
from web.params import parse_level, parse_limit, parse_time
from web.query import ParsedQuery, QuerySyntaxError, has_filter, parse


@get("/requests/{request_id:path}")
async def request_detail(request: Request, request_id: FromPath[str]) -> Response:
    request_id = request_id.removeprefix("/")  # a path parameter: ids may contain "/"
    try:
        check_request_id(request_id)
    except ValueError as exc:
        return error_response(400, str(exc))
    svc = services(request)
    found = await span_queries.request_trace(svc.engine, request_id,
                                             svc.settings.max_waterfall_spans,
                                             Shown.from_settings(svc.settings))
    if not found.items and not found.spans:
        return error_response(404, f"nothing recorded with request ID or trace ID {request_id!r}")
    body = {"request_id": request_id, "trace_id": found.trace_id, "items": found.items}
    if found.spans:
        body["waterfall"] = waterfall.as_json(waterfall.build(found.spans, found.items,
                                                              found.total_spans))
    return json_response(body)


def _from_q(q: str | None) -> ParsedQuery:
    """``q`` in the search-box language when it holds a known ``key:value`` filter
    (``trace:<id> level:error timeout``); otherwise, as the API always took it, one
    substring (``payment failed``, ``http://x``)."""
    if not q:
        return ParsedQuery()
    if not has_filter(q):
        return ParsedQuery(text=(q,))
    return parse(q)


def _one(name: str, from_q: str | None, param: str | None) -> str | None:
    if from_q and param and from_q != param:
        raise QueryError(f"{name}: given both in q and as a parameter, with different values")
    return from_q or param or None


@get("/logs")
async def logs(request: Request) -> Response:
    p = request.query_params
    current = now()
    try:
        parsed = _from_q(p.get("q"))
        level = parse_level(p.get("level"))
        if parsed.level is not None and level is not None and parsed.level != level:
            raise QueryError("level: given both in q and as a parameter, with different values")
        query = LogQuery(
            terms=parsed.text,
            min_level=parsed.level if parsed.level is not None else level,
            service=_one("service", parsed.service, p.get("service")),
            environment=_one("environment", parsed.environment, p.get("environment")),
            logger=_one("logger", parsed.logger, p.get("logger")),
            request_id=_one("request_id", parsed.request_id, p.get("request_id")),
            attributes=parsed.attributes, trace_id=parsed.trace_id, span=parsed.span,
            since=parse_time("since", p.get("since"), current),
            until=parse_time("until", p.get("until"), current),
            limit=parse_limit(p.get("limit")),
            cursor=p.get("cursor") or None,
        )
        svc = services(request)
        items, next_cursor = await queries.search_logs(svc.engine, query,
                                                       SearchLimits.from_settings(svc.settings),
                                                       Shown.from_settings(svc.settings))
    except QuerySyntaxError as exc:
        return error_response(400, f"q: {exc}")
    except QueryError as exc:
        return error_response(400, str(exc))
    except SearchTooExpensive as exc:
        return error_response(422, str(exc))
    return json_response({"items": items, "next_cursor": next_cursor})


router = Router(path="/api/v1", route_handlers=[request_detail, logs], guards=[require_reader])
