"""HTTP helpers shared by every module: JSON error bodies and service lookup.

Every error Lookout answers with is ``{"error": "<what is wrong>"}`` plus a
status; nothing a client sends produces a traceback in a response. A request
that fails because the database cannot be reached is a 503 with Retry-After
(logged as one line, no traceback): it is an outage, not a bug.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException

from lookout.db import database_unavailable
from lookout.ids import MAX_ROW_ID

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
    """``before_request`` hook: 400 for a NUL character in the path or a query parameter,
    404 for an out-of-range id in the path (:func:`check_path_ids`).

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
    check_path_ids(request)
    return None


def check_path_ids(request: Request) -> None:
    """404 for an integer path parameter no row can have (``/alerts/99999999999999999999``).

    Every id column is at most a signed 64-bit integer: a larger value made the
    driver fail the query (SQLite: OverflowError; PostgreSQL: out of range),
    a 500, where "there is no such thing" is the answer. Raised rather than
    returned, so pages answer with their HTML error page and the API with JSON.
    """
    for name, value in request.path_params.items():
        if isinstance(value, int) and not -MAX_ROW_ID - 1 <= value <= MAX_ROW_ID:
            shown = str(value) if len(str(value)) <= 30 else str(value)[:30] + "…"
            raise NotFoundException(f"{name}: there is no {name.removesuffix('_id')} {shown}")


def http_exception_handler(_request: Request, exc: HTTPException) -> Response:
    detail = exc.detail
    extra = getattr(exc, "extra", None)
    if extra and isinstance(extra, (dict, list)) and exc.status_code == 400:
        detail = f"{detail}: {extra}"
    return error_response(exc.status_code, str(detail), dict(exc.headers or {}))


UNAVAILABLE = "database unavailable; retry later"


UNAVAILABLE_LOG_EVERY = 30.0  # seconds: an outage is a few lines, not one per request


class _Unavailable:
    """Requests failed for want of a database, logged at most every UNAVAILABLE_LOG_EVERY."""

    quiet_until = 0.0
    suppressed = 0


def unavailable(path: str, exc: BaseException) -> None:
    """Log a request that failed for want of a database: one line, no traceback."""
    current = time.monotonic()
    if current < _Unavailable.quiet_until:
        _Unavailable.suppressed += 1
        return
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    log.warning("request failed: database unavailable",
                extra={"path": path, "error": f"{type(exc).__name__}: {text}",
                       "more_since_last_line": _Unavailable.suppressed})
    _Unavailable.quiet_until = current + UNAVAILABLE_LOG_EVERY
    _Unavailable.suppressed = 0


def internal_error_handler(request: Request, exc: Exception) -> Response:
    if database_unavailable(exc):
        unavailable(request.url.path, exc)
        return error_response(503, UNAVAILABLE, {"Retry-After": "5"})
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return error_response(500, "internal error; see the server log")
