"""Who may read: a Bearer API token (``lookout token create``) or, later, a UI session."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from lookout.accounts import check_token


async def require_reader(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Litestar guard for the read API; 401 names what is missing."""
    header = connection.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("missing credentials: send Authorization: Bearer <token>")
    svc = connection.app.state.services
    if not await check_token(svc.engine, token.strip()[:200]):
        raise NotAuthorizedException("unknown API token")
