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

from lookout_sdk._serialize import safe_str

REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,200}")


MAX_TAGS = 50
MAX_CONTEXTS = 20


class Scope:
    """Who and what the captured data is about: ``set_user`` / ``set_tag`` / ``set_context``.

    One global scope for code outside any request, and one per request
    context. ``set_*`` change the object in place (never the context variable),
    so a value set inside the view is still there when the middleware captures
    the view's unhandled exception after it returned.
    """

    __slots__ = ("contexts", "tags", "user")

    def __init__(self, user: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
                 contexts: dict[str, dict[str, Any]] | None = None) -> None:
        self.user = user
        self.tags = dict(tags or {})
        self.contexts = dict(contexts or {})

    def copy(self) -> Scope:
        return Scope(dict(self.user) if self.user else None, self.tags, self.contexts)


class RequestContext:
    """What is known about the current request; read by every capture."""

    __slots__ = ("attributes", "request_id", "route", "scope", "unhandled")

    def __init__(self, request_id: str, route: str | None = None,
                 attributes: dict[str, Any] | None = None, scope: Scope | None = None) -> None:
        self.request_id = request_id
        self.route = route
        self.unhandled = False
        self.attributes = attributes
        # A request starts from what was set globally (at the time it starts).
        self.scope = scope if scope is not None else global_scope.copy()


current_request: ContextVar[RequestContext | None] = ContextVar("lookout_request", default=None)
global_scope = Scope()


def current_scope() -> Scope:
    """The current request's scope, or the global one outside a request."""
    ctx = current_request.get()
    return ctx.scope if ctx is not None else global_scope


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

    Nested in another request context (the middleware's, or an outer
    ``request_context``), it inherits everything it does not set: the request
    id, the route, the outer attributes (its own win on a clash) and a copy of
    the user, tags and contexts. Outside one, a missing or invalid
    ``request_id`` is replaced by a fresh one (never raises). ``attributes``
    are added to every log and error captured inside.
    """
    outer = current_request.get()
    request_id = valid_request_id(request_id)
    if outer is not None:
        merged = {**(outer.attributes or {}), **attributes}
        ctx = RequestContext(request_id or outer.request_id, outer.route, merged or None,
                             outer.scope.copy())
    else:
        ctx = RequestContext(request_id or new_request_id(), None, attributes or None,
                             global_scope.copy())
    token = current_request.set(ctx)
    try:
        yield ctx
    finally:
        current_request.reset(token)


USER_FIELDS = ("id", "email", "username", "ip_address")


def set_user(id: Any = None, email: str | None = None, username: str | None = None,
             ip_address: str | None = None, **other: Any) -> None:
    """Name the user of the current request (globally outside one); ``set_user()`` clears it.

    Sent with every error captured afterwards as the attribute ``user`` (an
    object with these fields), which the collector counts as "users affected".
    """
    fields = {"id": id, "email": email, "username": username, "ip_address": ip_address, **other}
    user = {safe_str(k, 100): (v if isinstance(v, (str, int, float, bool)) else safe_str(v, 200))
            for k, v in list(fields.items())[:20] if v is not None}
    current_scope().user = user or None


def set_tag(key: str, value: Any) -> None:
    """A tag (``plan=pro``) on every error captured afterwards in this request (or globally)."""
    tags = current_scope().tags
    key = safe_str(key, 200)
    if key in tags or len(tags) < MAX_TAGS:
        tags[key] = safe_str(value, 200)


def set_context(name: str, value: dict[str, Any] | None) -> None:
    """Named structured data (``set_context("order", {"id": 7})``) on errors captured afterwards;
    ``None`` removes it."""
    contexts = current_scope().contexts
    name = safe_str(name, 200)
    if value is None:
        contexts.pop(name, None)
    elif name in contexts or len(contexts) < MAX_CONTEXTS:
        contexts[name] = dict(value) if isinstance(value, dict) else {"value": value}


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
