"""HTTP helpers shared by every module: JSON error bodies and service lookup.

Every error Lookout answers with is ``{"error": "<what is wrong>"}`` plus a
status; nothing a client sends produces a traceback in a response.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

if TYPE_CHECKING:
    from lookout.services import Services

log = logging.getLogger("lookout.http")
_encode = msgspec.json.Encoder().encode


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=_encode(body), status_code=status, media_type="application/json",
                    headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def refuse_nul_characters(request: Request) -> Response | None:
    """``before_request`` hook: 400 for a NUL character in the path or a query parameter.

    PostgreSQL text cannot hold U+0000, so such a value reaching any query (a
    search term, a service filter) failed as a database error, a 500. No valid
    value contains one. The common case costs two byte-string ``in`` tests.
    """
    raw = request.scope.get("query_string") or b""
    if b"%00" in raw or b"\x00" in raw:
        for key, value in request.query_params.multi_items():
            if "\x00" in key or "\x00" in value:
                name = key.replace("\x00", "")[:40]
                return error_response(400, f"query parameter {name!r} must not contain NUL "
                                           "(%00) characters")
    if "\x00" in request.scope["path"]:
        return error_response(400, "the path must not contain NUL (%00) characters")
    return None


def http_exception_handler(_request: Request, exc: HTTPException) -> Response:
    detail = exc.detail
    extra = getattr(exc, "extra", None)
    if extra and isinstance(extra, (dict, list)) and exc.status_code == 400:
        detail = f"{detail}: {extra}"
    return error_response(exc.status_code, str(detail), dict(exc.headers or {}))


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return error_response(500, "internal error; see the server log")
