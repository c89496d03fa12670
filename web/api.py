"""Read API: ``/api/v1/requests/{request_id}`` and ``/api/v1/logs``."""

from __future__ import annotations

from litestar import Request, Response, Router, get
from litestar.params import FromPath

from collector import queries
from collector.normalize import check_request_id
from collector.queries import LogQuery, QueryError
from collector.search_budget import SearchLimits, SearchTooExpensive
from collector.shown import Shown
from lookout.db import now
from lookout.http import error_response, json_response, services
from web.auth import require_reader
from web.params import parse_level, parse_limit, parse_time


@get("/requests/{request_id:path}")
async def request_detail(request: Request, request_id: FromPath[str]) -> Response:
    request_id = request_id.removeprefix("/")  # a path parameter: ids may contain "/"
    try:
        check_request_id(request_id)
    except ValueError as exc:
        return error_response(400, str(exc))
    svc = services(request)
    items = await queries.request_timeline(svc.engine, request_id,
                                           shown=Shown.from_settings(svc.settings))
    if not items:
        return error_response(404, f"nothing recorded with request ID {request_id!r}")
    return json_response({"request_id": request_id, "items": items})


@get("/logs")
async def logs(request: Request) -> Response:
    p = request.query_params
    current = now()
    try:
        query = LogQuery(
            text=p.get("q") or None,
            min_level=parse_level(p.get("level")),
            service=p.get("service") or None,
            environment=p.get("environment") or None,
            logger=p.get("logger") or None,
            request_id=p.get("request_id") or None,
            since=parse_time("since", p.get("since"), current),
            until=parse_time("until", p.get("until"), current),
            limit=parse_limit(p.get("limit")),
            cursor=p.get("cursor") or None,
        )
        svc = services(request)
        items, next_cursor = await queries.search_logs(svc.engine, query,
                                                       SearchLimits.from_settings(svc.settings),
                                                       Shown.from_settings(svc.settings))
    except QueryError as exc:
        return error_response(400, str(exc))
    except SearchTooExpensive as exc:
        return error_response(422, str(exc))
    return json_response({"items": items, "next_cursor": next_cursor})


router = Router(path="/api/v1", route_handlers=[request_detail, logs], guards=[require_reader])
