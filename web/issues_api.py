"""Issues read/write API: list, detail, and resolve / ignore / reopen."""

from __future__ import annotations

from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from collector import issue_queries
from collector.issue_queries import IssueQuery
from collector.queries import QueryError
from collector.shown import Shown
from lookout.db import now
from lookout.http import error_response, json_response, services
from lookout.ids import MAX_PROJECT_ID, parse_id
from web.auth import require_reader
from web.params import parse_limit

_ACTIONS = {"resolve": "resolved", "ignore": "ignored", "reopen": "unresolved"}


@get("/issues")
async def list_issues(request: Request) -> Response:
    """``?status=unresolved|resolved|ignored&q=text&project=ID&limit=&cursor=``."""
    p = request.query_params
    try:
        project = p.get("project") or None
        project_id = None if project is None else parse_id(project, MAX_PROJECT_ID)
        if project is not None and project_id is None:
            raise QueryError("project: must be a project id (a number)")
        query = IssueQuery(status=issue_queries.check_status(p.get("status")),
                           text=p.get("q") or None,
                           project_id=project_id,
                           limit=parse_limit(p.get("limit")), cursor=p.get("cursor") or None)
        items, cursor = await issue_queries.list_issues(services(request).engine, query, now())
    except QueryError as exc:
        return error_response(400, str(exc))
    return json_response({"items": items, "next_cursor": cursor})


def _issue_id(raw: str) -> int | None:
    return parse_id(raw)


@get("/issues/{issue_id:str}")
async def issue_detail(request: Request, issue_id: FromPath[str]) -> Response:
    """The issue with its latest event (stack trace, tags) and why its events grouped."""
    number = _issue_id(issue_id)
    svc = services(request)
    item = None if number is None else await issue_queries.get_issue(
        svc.engine, number, now(), Shown.from_settings(svc.settings))
    if item is None:
        return error_response(404, f"no issue {issue_id[:40]!r}")
    return json_response(item)


@get("/issues/{issue_id:str}/events")
async def issue_events(request: Request, issue_id: FromPath[str]) -> Response:
    """The issue's events, newest first: ``?limit=&cursor=``."""
    number = _issue_id(issue_id)
    svc = services(request)
    engine = svc.engine
    if number is None or await issue_queries.latest_event(engine, number) is None:
        return error_response(404, f"no events for issue {issue_id[:40]!r}")
    p = request.query_params
    try:
        items, cursor = await issue_queries.issue_events(
            engine, number, parse_limit(p.get("limit"), default=50, maximum=500),
            p.get("cursor") or None, Shown.from_settings(svc.settings))
    except QueryError as exc:
        return error_response(400, str(exc))
    return json_response({"items": items, "next_cursor": cursor})


@post("/issues/{issue_id:str}/{action:str}", status_code=200)
async def change_status(request: Request, issue_id: FromPath[str],
                        action: FromPath[str]) -> Response:
    """``resolve`` | ``ignore`` | ``reopen``; a resolved issue reopens by itself on a new event."""
    status = _ACTIONS.get(action)
    if status is None:
        return error_response(404, f"unknown action {action[:40]!r}; use resolve, ignore "
                                   "or reopen")
    number = _issue_id(issue_id)
    item = None if number is None else await issue_queries.set_status(
        services(request).engine, number, status, now())
    if item is None:
        return error_response(404, f"no issue {issue_id[:40]!r}")
    return json_response(item)


router = Router(path="/api/v1", route_handlers=[list_issues, issue_detail, issue_events, change_status],
                guards=[require_reader])
