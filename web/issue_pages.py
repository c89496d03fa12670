"""Issue pages: ``/issues`` (list) and ``/issues/{id}`` (detail, resolve / ignore / reopen).

Reads and status changes go through ``collector.issue_queries``; the buttons
are plain forms carrying the session's CSRF token, so they work without
JavaScript and cannot be triggered from another site.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from collector import issue_queries
from collector.issue_queries import IssueQuery
from collector.queries import QueryError
from collector.shown import Shown
from lookout.db import now
from lookout.http import services
from lookout.ids import parse_id
from web import charts
from web.auth import checked_form
from web.ui import page

PAGE_SIZE = 50
STATUS_TABS = ("unresolved", "resolved", "ignored", "all")
ACTIONS = {"resolve": "resolved", "ignore": "ignored", "reopen": "unresolved"}


def _issue_number(raw: str) -> int | None:
    return parse_id(raw)


@get("/issues")
async def issues(request: Request) -> Template:
    p = request.query_params
    status = p.get("status") or "unresolved"
    q = (p.get("q") or "").strip()
    cursor = p.get("cursor") or None
    current = now()
    try:
        query = IssueQuery(status=issue_queries.check_status(status), text=q or None,
                           limit=PAGE_SIZE, cursor=cursor)
        items, next_cursor = await issue_queries.list_issues(services(request).engine, query,
                                                             current)
    except QueryError as exc:
        return page(request, "issues.html", 400, error=str(exc), items=[], status=status, q=q,
                    tabs=STATUS_TABS)
    for item in items:
        counts, start = charts.hourly_series(item["hourly"], current - 23 * 3600, 24)
        item["spark"] = charts.bars(counts, start, 3600)
    base = {"status": status, **({"q": q} if q else {})}
    return page(request, "issues.html", items=items, status=status, q=q, tabs=STATUS_TABS,
                next_url="/issues?" + urlencode({**base, "cursor": next_cursor})
                if next_cursor else None,
                first_url="/issues?" + urlencode(base) if cursor else None)


@get("/issues/{issue_id:str}")
async def issue_detail(request: Request, issue_id: FromPath[str]) -> Template:
    number = _issue_number(issue_id)
    current = now()
    svc = services(request)
    item = None if number is None else await issue_queries.get_issue(
        svc.engine, number, current, Shown.from_settings(svc.settings))
    if item is None:
        return page(request, "error.html", 404, title="No such issue",
                    message=f"There is no issue {issue_id[:40]!r}. It may have been removed "
                            "by retention.")
    counts, start = charts.hourly_series(item["hourly"], current - (14 * 24 - 1) * 3600,
                                         14 * 24)
    occurrences = charts.bars(counts, start, 3600, css_class="occurrences")
    return page(request, "issue.html", issue=item, event=item["latest_event"],
                corrected=time_correction(item["latest_event"]),
                occurrences=occurrences, occurrences_total=sum(counts),
                actions=[a for a, s in ACTIONS.items() if s != item["status"]])


def time_correction(event: dict[str, Any] | None) -> dict[str, str] | None:
    """What the event's own time was, when ingest changed it (``extra._meta.timestamp``)."""
    extra = event.get("extra") if event else None
    meta = extra.get("_meta") if isinstance(extra, dict) else None
    fixed = meta.get("timestamp") if isinstance(meta, dict) else None
    if not isinstance(fixed, dict):
        return None
    return {k: str(fixed.get(k) or "") for k in ("reason", "original", "sdk_time", "server_time")}


@post("/issues/{issue_id:str}/{action:str}")
async def issue_action(request: Request, issue_id: FromPath[str],
                       action: FromPath[str]) -> Response | Template:
    await checked_form(request)
    status = ACTIONS.get(action)
    number = _issue_number(issue_id)
    if status is None or number is None:
        return page(request, "error.html", 404, title="Not found",
                    message="Unknown issue or action (use resolve, ignore or reopen).")
    item = await issue_queries.set_status(services(request).engine, number, status, now())
    if item is None:
        return page(request, "error.html", 404, title="No such issue",
                    message=f"There is no issue {number}.")
    return Redirect(f"/issues/{number}", status_code=303)


routes = [issues, issue_detail, issue_action]
