"""Who may read: a Bearer API token (``lookout token create``) or a UI session.

Scripts use tokens; the browser uses the session cookie. A request made with
the cookie and an unsafe method (POST, ...) must also carry the session's
CSRF token (form field ``_csrf`` for pages, header ``X-CSRF-Token`` for the
API), because the browser attaches the cookie to cross-site requests too.
Bearer requests need no CSRF token: browsers never add that header by
themselves.
"""

from __future__ import annotations

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import FormMultiDict
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from lookout.accounts import check_token
from lookout.db import now
from web.sessions import SESSION_COOKIE, Session, check_csrf, load_session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


class LoginRequired(NotAuthorizedException):
    """A page was asked for without a session; pages answer with a redirect to /login."""


async def current_session(connection: ASGIConnection) -> Session | None:
    """The request's live session (looked up once per request), or None."""
    state = connection.scope.setdefault("state", {})
    if "lookout_session" not in state:
        token = connection.cookies.get(SESSION_COOKIE, "")
        svc = connection.app.state.services
        state["lookout_session"] = await load_session(svc.engine, token, now()) if token else None
    return state["lookout_session"]


async def require_reader(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Litestar guard for the read API; 401 names what is missing, 403 a bad CSRF token."""
    header = connection.headers.get("authorization", "")
    if header:
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("Authorization must be: Bearer <token>")
        # Checked against the database every time (one indexed lookup), so a revoked
        # token is refused at once on every instance.
        if not await check_token(connection.app.state.services.engine, token.strip()[:200]):
            raise NotAuthorizedException("unknown API token")
        return
    session = await current_session(connection)
    if session is None:
        raise NotAuthorizedException(
            "missing credentials: send Authorization: Bearer <token> or log in")
    if connection.scope["method"] not in SAFE_METHODS:
        secret = connection.app.state.services.secret_key
        if not check_csrf(secret, session.id, connection.headers.get(CSRF_HEADER)):
            raise PermissionDeniedException(
                "missing or wrong X-CSRF-Token header (required with a session cookie)")


async def require_login(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard for HTML pages: no session means a redirect to the login page."""
    if await current_session(connection) is None:
        raise LoginRequired("log in to see this page")


async def checked_form(request: Request) -> FormMultiDict:
    """The posted form of a logged-in user, after checking its ``_csrf`` field (403 if wrong)."""
    form = await request.form()
    session = await current_session(request)
    secret = request.app.state.services.secret_key
    if session is None or not check_csrf(secret, session.id, form.get("_csrf")):
        raise PermissionDeniedException("The form is missing its CSRF token or it is wrong. "
                                        "Reload the page and try again.")
    return form
