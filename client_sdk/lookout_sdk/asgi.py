"""ASGI ``LookoutMiddleware``: request IDs, one request record, unhandled errors.

A plain ASGI class (like Starlette's middleware) so it wraps any ASGI app::

    app = lookout_sdk.asgi.LookoutMiddleware(app)

For each HTTP request it takes a valid incoming ``X-Request-ID`` (1-200
printable ASCII characters) or makes one, makes it current for everything
captured during the request, returns it in the response's ``X-Request-ID``
header, and afterwards emits one request record (method, route template,
status, duration). An exception escaping the app is captured (unhandled)
and re-raised.

The route template is read from the scope after the app ran, where routers
leave it: Litestar's ``scope["path_template"]``, Starlette/FastAPI's
``scope["route"].path``; code can also call :func:`lookout_sdk.set_route`.
Litestar turns exceptions into 500 responses itself, so to capture them
register :func:`litestar_after_exception` as an ``after_exception`` hook.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, MutableMapping
from typing import Any, Callable

from lookout_sdk import _hub
from lookout_sdk._context import RequestContext, current_request, new_request_id, valid_request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"x-request-id"
MAX_HEADERS = 50


def route_template(scope: Scope) -> str | None:
    """The matched route's template, from wherever the framework put it."""
    template = scope.get("path_template")  # Litestar
    if isinstance(template, str) and template:
        return template
    route = scope.get("route")  # Starlette, FastAPI
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    if isinstance(path, str) and path:
        return path
    return None


def request_headers(raw: Any) -> dict[str, str]:
    """ASGI header pairs as a dict for error reports (scrubbed later on the sender)."""
    headers: dict[str, str] = {}
    for i, (name, value) in enumerate(raw or ()):
        if i >= MAX_HEADERS:
            break
        headers[name.decode("latin-1")] = value.decode("latin-1")[:1024]
    return headers


class LookoutMiddleware:
    """Wraps an ASGI app; cost per request is a few dict operations and one append."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or _hub.client is None:
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers") or ():
            if name == HEADER:
                incoming = value
                break
        request_id = valid_request_id(incoming) or new_request_id()
        ctx = RequestContext(request_id)
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        started_wall = time.time()
        started = time.perf_counter()
        status = 500
        response_started = False
        header_value = request_id.encode("ascii")

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message.get("type") == "http.response.start":
                response_started = True
                try:
                    status = int(message.get("status", 500))
                    headers = [(k, v) for k, v in message.get("headers") or ()
                               if k.lower() != HEADER]
                    headers.append((HEADER, header_value))
                    message["headers"] = headers
                except Exception:  # noqa: BLE001 - a malformed message is the server's to judge
                    pass
            await send(message)

        token = current_request.set(ctx)
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            ctx.unhandled = True
            if not response_started:
                status = 500
            _capture(exc, scope, method, path)
            raise
        finally:
            current_request.reset(token)
            _record(ctx, method, ctx.route or route_template(scope) or path, status,
                    started_wall, started)


def _capture(exc: BaseException, scope: Scope, method: str, path: str) -> None:
    client = _hub.client
    if client is None or isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return
    try:
        client.capture_exception(exc, handled=False, mechanism="asgi", attributes={
            "http.method": method, "http.path": path,
            "http.headers": request_headers(scope.get("headers"))})
    except Exception:  # noqa: BLE001
        pass


def _record(ctx: RequestContext, method: str, route: str, status: int, started_wall: float,
            started: float) -> None:
    client = _hub.client
    if client is None:
        return
    try:
        client.send_request({
            "ts": started_wall, "request_id": ctx.request_id, "method": method[:16],
            "route": route[:500] or "/", "status": status if 100 <= status <= 599 else 500,
            "duration_ms": (time.perf_counter() - started) * 1000.0,
            "unhandled": ctx.unhandled,
        })
    except Exception:  # noqa: BLE001
        pass


async def litestar_after_exception(exc: Exception, scope: Scope) -> None:
    """Litestar ``after_exception`` hook: capture server errors the app turned into 500s.

    HTTP errors below 500 (404, validation errors) are part of normal
    operation and are not captured.
    """
    status = getattr(exc, "status_code", 500)
    if isinstance(status, int) and status < 500:
        return
    client = _hub.client
    if client is None:
        return
    try:
        method = str(scope.get("method", ""))
        path = str(scope.get("path", ""))
        _capture(exc, scope, method, path)
        ctx = current_request.get()
        if ctx is not None:
            ctx.unhandled = True
    except Exception:  # noqa: BLE001
        pass
