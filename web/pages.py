"""The UI's routers: pages behind login, the login pages, and static files.

Every UI response gets the security headers (web.ui.SECURITY_HEADERS).
Errors on pages are HTML pages (the read API keeps its JSON errors); a page
asked for without a session redirects to ``/login?next=<where you were>``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from lookout.db import database_unavailable
from lookout.http import unavailable
from web import alert_pages, issue_pages, login, settings_pages, silence_pages, storage_page, views
from web.auth import LoginRequired, require_login
from web.ui import STATIC, add_security_headers, build_environment, static_headers

log = logging.getLogger("lookout.web")
_errors = build_environment().get_template("error.html")


def _error_page(status: int, title: str, message: str) -> Response:
    html = _errors.render(title=title, message=message, user=None, csrf="", path="")
    return add_security_headers(Response(content=html, status_code=status,
                                         media_type="text/html; charset=utf-8"))


def to_login(request: Request, _exc: LoginRequired) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return add_security_headers(Redirect("/login?" + urlencode({"next": target}),
                                         status_code=303))


def http_error(_request: Request, exc: HTTPException) -> Response:
    return _error_page(exc.status_code, f"Error {exc.status_code}", str(exc.detail))


def internal_error(request: Request, exc: Exception) -> Response:
    if database_unavailable(exc):  # an outage, not a bug: 503 and one log line
        unavailable(request.url.path, exc)
        response = _error_page(503, "Database unavailable",
                               "Lookout cannot reach its database right now. "
                               "Try again in a few seconds.")
        response.headers["Retry-After"] = "5"
        return response
    log.error("unhandled error on a page", exc_info=exc, extra={"path": request.url.path})
    return _error_page(500, "Something went wrong", "The error was logged on the server.")


pages = Router(path="/", route_handlers=[*views.routes, *issue_pages.routes,
                                         *alert_pages.routes, *silence_pages.routes,
                                         *settings_pages.routes, *storage_page.routes],
               guards=[require_login],
               after_request=add_security_headers,
               exception_handlers={LoginRequired: to_login, HTTPException: http_error,
                                   Exception: internal_error})
accounts = Router(path="/", route_handlers=login.routes, after_request=add_security_headers,
                  exception_handlers={HTTPException: http_error, Exception: internal_error})
static = create_static_files_router(path="/static", directories=[STATIC],
                                    after_request=static_headers, name="static")

routers = [pages, accounts, static]
