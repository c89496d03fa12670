"""The request context: which request the current code is working for.

A ``ContextVar`` so every asyncio task started inside a request inherits it
(tasks copy the context when created). Threads do not inherit context
variables before Python 3.14, so ``propagate_to_threads`` makes
``threading.Thread.start`` carry the current request context into the new
thread — what "threads it starts" needs — and ``ThreadPoolExecutor.submit``
run each task in the context of the code that submitted it (pool workers
outlive requests, so their start-time context would be stale).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable

REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,200}")


class RequestContext:
    """What is known about the current request; read by every capture."""

    __slots__ = ("attributes", "request_id", "route", "unhandled")

    def __init__(self, request_id: str, route: str | None = None,
                 attributes: dict[str, Any] | None = None) -> None:
        self.request_id = request_id
        self.route = route
        self.unhandled = False
        self.attributes = attributes


current_request: ContextVar[RequestContext | None] = ContextVar("lookout_request", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def valid_request_id(value: Any) -> str | None:
    """``value`` if it is a usable request ID (1-200 printable ASCII, no spaces), else None."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if isinstance(value, str) and REQUEST_ID_RE.fullmatch(value):
        return value
    return None


@contextmanager
def request_context(request_id: str | None = None, **attributes: Any) -> Iterator[RequestContext]:
    """Everything captured inside the block carries ``request_id``.

    An invalid or missing ``request_id`` is replaced by a fresh one (never
    raises); ``attributes`` are added to every log and error captured inside.
    """
    ctx = RequestContext(valid_request_id(request_id) or new_request_id(), None,
                         attributes or None)
    token = current_request.set(ctx)
    try:
        yield ctx
    finally:
        current_request.reset(token)


def get_request_id() -> str | None:
    """The current request ID, or None outside a request."""
    ctx = current_request.get()
    return ctx.request_id if ctx is not None else None


def set_route(route: str | None) -> None:
    """Name the route template of the current request (for WSGI frameworks).

    Flask's ``request.url_rule.rule`` or Django's ``resolver_match.route``
    are known only inside the framework; call this from a hook there.
    """
    ctx = current_request.get()
    if ctx is not None and isinstance(route, str):
        ctx.route = route[:500]


_propagating = False


def propagate_to_threads() -> None:
    """Make new threads start with the request context of the code that started them."""
    global _propagating
    if _propagating:
        return
    _propagating = True
    original_start = threading.Thread.start  # whatever is there now, other patches included

    def start(self: threading.Thread) -> None:
        ctx = current_request.get()
        if ctx is not None:
            run = self.run

            def run_in_request() -> None:
                current_request.set(ctx)
                run()

            self.run = run_in_request  # type: ignore[method-assign]
        original_start(self)

    start.__doc__ = original_start.__doc__
    threading.Thread.start = start  # type: ignore[method-assign]

    # Pool workers outlive the request that started them: each task runs in
    # the request context of the code that submitted it (None outside one).
    original_submit = ThreadPoolExecutor.submit

    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
               **kwargs: Any) -> Future[Any]:
        ctx = current_request.get()

        def run_in_request(*a: Any, **kw: Any) -> Any:
            token = current_request.set(ctx)
            try:
                return fn(*a, **kw)
            finally:
                current_request.reset(token)

        return original_submit(self, run_in_request, *args, **kwargs)

    submit.__doc__ = original_submit.__doc__
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]
