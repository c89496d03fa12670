"""WSGI ``LookoutMiddleware``: the ASGI middleware's contract for WSGI apps.

    app.wsgi_app = lookout_sdk.wsgi.LookoutMiddleware(app.wsgi_app)   # Flask

The request record is emitted when the server closes the response iterable
(PEP 3333 guarantees ``close()`` is called), so the duration includes
streaming the body. WSGI has no standard place for the matched route:
frameworks call :func:`lookout_sdk.set_route` from a hook (see the README for
Flask and Django); otherwise the raw path is used.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable

from lookout_sdk import _hub
from lookout_sdk._context import RequestContext, current_request, new_request_id, valid_request_id

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]
MAX_HEADERS = 50


def request_headers(environ: dict) -> dict[str, str]:
    """``HTTP_*`` entries of ``environ`` as header names, for error reports."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            headers[key[5:].replace("_", "-").title()] = value[:1024]
            if len(headers) >= MAX_HEADERS:
                break
    return headers


class LookoutMiddleware:
    """Wraps a WSGI app; see the module docstring."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _hub.client is None:
            return self.app(environ, start_response)
        request_id = valid_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
        ctx = RequestContext(request_id)
        state = _RequestState(ctx, environ)

        def start_with_id(status: str, headers: list, exc_info: Any = None) -> Any:
            try:
                state.status = int(str(status).split(" ", 1)[0])
                headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
                headers.append(("X-Request-ID", request_id))
            except Exception:  # noqa: BLE001 - malformed status/headers are the server's to judge
                state.status = 500
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        token = current_request.set(ctx)
        try:
            result = self.app(environ, start_with_id)
        except BaseException as exc:
            state.fail(exc)
            current_request.reset(token)
            state.finish()
            raise
        current_request.reset(token)
        return _ClosingIterable(result, state)


class _RequestState:
    __slots__ = ("ctx", "done", "environ", "started", "started_wall", "status")

    def __init__(self, ctx: RequestContext, environ: dict) -> None:
        self.ctx = ctx
        self.environ = environ
        self.status = 500
        self.started_wall = time.time()
        self.started = time.perf_counter()
        self.done = False

    def fail(self, exc: BaseException) -> None:
        self.ctx.unhandled = True
        self.status = 500
        client = _hub.client
        if client is None or isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return
        token = current_request.set(self.ctx)
        try:
            client.capture_exception(exc, handled=False, mechanism="wsgi", attributes={
                "http.method": self.environ.get("REQUEST_METHOD", ""),
                "http.path": self.environ.get("PATH_INFO", ""),
                "http.headers": request_headers(self.environ)})
        except Exception:  # noqa: BLE001
            pass
        finally:
            current_request.reset(token)

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        client = _hub.client
        if client is None:
            return
        try:
            path = str(self.environ.get("PATH_INFO", ""))
            client.send_request({
                "ts": self.started_wall, "request_id": self.ctx.request_id,
                "method": str(self.environ.get("REQUEST_METHOD", "GET"))[:16],
                "route": (self.ctx.route or path or "/")[:500],
                "status": self.status if 100 <= self.status <= 599 else 500,
                "duration_ms": (time.perf_counter() - self.started) * 1000.0,
                "unhandled": self.ctx.unhandled,
            })
        except Exception:  # noqa: BLE001
            pass


class _ClosingIterable:
    """Runs the body iteration inside the request context; records on ``close()``."""

    def __init__(self, result: Iterable[bytes], state: _RequestState) -> None:
        self.result = result
        self.state = state

    def __iter__(self) -> Iterator[bytes]:
        iterator = iter(self.result)
        while True:
            token = current_request.set(self.state.ctx)
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except BaseException as exc:
                self.state.fail(exc)
                raise
            finally:
                current_request.reset(token)
            yield chunk

    def close(self) -> None:
        try:
            close: Callable[[], None] | None = getattr(self.result, "close", None)
            if close is not None:
                token = current_request.set(self.state.ctx)
                try:
                    close()
                finally:
                    current_request.reset(token)
        finally:
            self.state.finish()
