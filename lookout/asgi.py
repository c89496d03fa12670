"""Raw ASGI for the hot ingest endpoints, in front of the Litestar app.

``POST /api/{id}/ingest``, ``/api/{id}/envelope/`` and ``/api/{id}/store/``
carry every event, one small request each when the official Sentry SDK
sends them. :class:`FastPaths` matches exactly these paths before Litestar
sees the request and runs their handlers on the bare ASGI scope; everything
else (and every other method on these paths) goes to Litestar unchanged.
Litestar's per-request machinery (routing, signature model, ``Request`` and
``Response`` objects, header containers) cost more CPU than parsing and
converting a Sentry event, which capped ingest near 1,000 events/s.

(A Litestar ``@asgi`` route handler would keep Litestar's routing, but
Litestar 2.x cannot resolve path parameters of ``@asgi`` handlers for HTTP
requests: ``KeyError: 'POST'`` in its routing trie.)

Answers look exactly like the ordinary handlers' ones: JSON bodies with
``content-type: application/json`` and a ``content-length``; an unexpected
exception is logged and answered with the same JSON 500 as
:func:`lookout.http.internal_error_handler`.

CORS, as Sentry's Relay does it, so browser SDKs on any site can report:
``OPTIONS`` on these paths is a preflight answer (204, any origin, ``POST``,
the headers the SDKs send), and every answer carries
``Access-Control-Allow-Origin: *`` and exposes the rate-limit headers the SDKs
read. No credentials are involved (the key is in a header or the query), so
the wildcard origin is safe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from lookout import metrics
from lookout.db import database_unavailable
from lookout.errors import ClientDisconnected
from lookout.http import UNAVAILABLE, unavailable

if TYPE_CHECKING:
    from lookout.services import Services

log = logging.getLogger("lookout.http")
_encode = msgspec.json.Encoder().encode
ALLOW = b"POST, OPTIONS"
CORS_HEADERS = [(b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", b"X-Sentry-Rate-Limits, Retry-After")]
PREFLIGHT_HEADERS = [
    (b"allow", ALLOW), (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", ALLOW),
    (b"access-control-allow-headers",
     (b"content-type, content-encoding, authorization, x-sentry-auth, x-lookout-key, "
      b"sentry-trace, baggage, traceparent, x-requested-with, accept, origin, referer")),
    (b"access-control-max-age", b"3600")]

# A raw handler: (services, the path's project id, scope, receive) -> the answer.
Handler = Callable[["Services", str, Scope, Receive], Awaitable["Reply"]]


class Reply:
    """A JSON answer: status, body (encoded once) and extra headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = _encode(body)
        self.headers = headers
        self.content_type = b"application/json"

    @classmethod
    def raw(cls, status: int, body: bytes, content_type: str,
            headers: dict[str, str] | None = None) -> Reply:
        """An answer whose body is already encoded (OTLP answers protobuf to protobuf)."""
        reply = cls(status, None, headers)
        reply.body, reply.content_type = body, content_type.encode("latin-1")
        return reply


def refuse(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """An error answer (``{"error": ...}``), counted in ``lookout_requests_refused_total``."""
    metrics.REQUESTS_REFUSED.labels(str(status)).inc()
    return Reply(status, {"error": message}, headers)


def headers_of(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (the first of repeated ones, like Litestar's)."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        if key not in out:
            out[key] = value.decode("latin-1")
    return out


def query_of(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string") or b""
    if not raw:
        return {}
    out: dict[str, str] = {}
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        out.setdefault(key, value)
    return out


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives (for ``collector.decode.read_limited``).

    Raises :class:`~lookout.errors.ClientDisconnected` when the connection ends first.
    """
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected("the connection ended before the request body did")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def send_reply(send: Send, reply: Reply) -> None:
    headers = [(b"content-type", reply.content_type), *CORS_HEADERS,
               (b"content-length", str(len(reply.body)).encode())]
    if reply.headers:
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


class FastPaths:
    """The ASGI app ``lookout serve`` runs: raw handlers for ``POST`` on exact paths, else Litestar.

    ``routes`` maps a regex whose group 1 is the project id to its handler.
    """

    def __init__(self, app: ASGIApp, services: Services,
                 routes: list[tuple[re.Pattern[str], Handler]]) -> None:
        self.app = app
        self.services = services
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            for pattern, handler in self.routes:
                match = pattern.fullmatch(path)
                if match is not None:
                    if scope["method"] == "POST":
                        await self._run(handler, match.group(1), scope, receive, send)
                    else:
                        await _not_post(scope, send)
                    return
        await self.app(scope, receive, send)

    async def _run(self, handler: Handler, project_id: str, scope: Scope, receive: Receive,
                   send: Send) -> None:
        try:
            reply = await handler(self.services, project_id, scope, receive)
        except ClientDisconnected:
            return  # nobody to answer, and nothing was stored
        except Exception as exc:  # like Litestar's handler: a JSON 503 or 500, logged
            if database_unavailable(exc):
                unavailable(scope["path"], exc)
                reply = Reply(503, {"error": UNAVAILABLE}, {"Retry-After": "5"})
            else:
                log.error("unhandled error", exc_info=exc, extra={"path": scope["path"]})
                reply = Reply(500, {"error": "internal error; see the server log"})
        await send_reply(send, reply)


async def _not_post(scope: Scope, send: Send) -> None:
    """OPTIONS: the CORS preflight answer (204); other methods: 405, as Litestar answers."""
    if scope["method"] == "OPTIONS":
        await send({"type": "http.response.start", "status": 204, "headers": PREFLIGHT_HEADERS})
        await send({"type": "http.response.body", "body": b""})
        return
    await send_reply(send, Reply(405, {"error": "Method Not Allowed"}, {"allow": ALLOW.decode()}))
