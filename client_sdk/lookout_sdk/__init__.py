"""Lookout SDK: logs, errors, metrics and request IDs from any Python app.

    import lookout_sdk
    lookout_sdk.init(dsn="http://KEY@lookout:8000/1", service="checkout")

Every public function here is safe to call at any time: before ``init``
(no-op), with a broken DSN (no-op, one warning), with an unreachable
collector (records wait in a bounded queue). None of them raises into the
app or waits on the network.
"""

from __future__ import annotations

import logging
from typing import Any

from lookout_sdk import _hub, _logging, asgi, metrics, transport, wsgi
from lookout_sdk._context import (
    get_request_id,
    propagate_to_threads,
    request_context,
    set_context,
    set_route,
    set_tag,
    set_user,
)
from lookout_sdk._dsn import Dsn, parse_dsn
from lookout_sdk._exceptions import current_exception
from lookout_sdk._structlog import structlog_processor
from lookout_sdk.errors import DsnError, LookoutError, TransportError

__version__ = "0.1.0"
__all__ = [
    "Dsn",
    "DsnError",
    "LookoutError",
    "TransportError",
    "__version__",
    "asgi",
    "capture_exception",
    "capture_message",
    "close",
    "flush",
    "get_request_id",
    "init",
    "is_enabled",
    "metrics",
    "parse_dsn",
    "request_context",
    "set_context",
    "set_route",
    "set_tag",
    "set_user",
    "structlog_processor",
    "transport",
    "wsgi",
]

log = logging.getLogger("lookout_sdk")
log.addHandler(logging.NullHandler())


def init(dsn: str | None = None, **options: Any) -> bool:
    """Configure the SDK; returns True when it is sending.

    Options (all keywords): ``service``, ``environment``, ``release``,
    ``host``, ``sample_rate``, ``level``, ``max_queue``, ``flush_interval``,
    ``max_batch_records``, ``max_batch_bytes``, ``before_send``,
    ``scrub_keys``, ``include_local_variables``, ``capture_unhandled``,
    ``shutdown_timeout``, ``timeout``, ``transport`` — see the README.
    Without a DSN (argument or ``LOOKOUT_DSN``) the SDK is disabled. Calling
    ``init`` again replaces the previous configuration (its queue is flushed
    first, within ``shutdown_timeout``).
    """
    try:
        from lookout_sdk._client import Client
        from lookout_sdk._options import build_options

        opts = build_options(dsn, **options)
        if opts.dsn is None:
            _hub.set_client(None)
            _logging.uninstall()
            return False
        new_client = Client(opts)
        _hub.install_hooks()
        propagate_to_threads()
        _hub.set_client(new_client)
        _logging.install(opts.level)
        return True
    except Exception:
        log.warning("lookout_sdk: init failed; the SDK is disabled", exc_info=True)
        return False


def is_enabled() -> bool:
    """True when ``init`` configured a DSN and the SDK is sending."""
    return _hub.client is not None


def capture_exception(exc: BaseException | None = None, *, level: str = "error",
                      attributes: dict[str, Any] | None = None) -> str | None:
    """Send ``exc`` (default: the exception being handled) as an error; its event ID.

    Returns None when there is nothing to send or the SDK is disabled.
    """
    client = _hub.client
    if client is None:
        return None
    try:
        if exc is None:
            exc = current_exception()
            if exc is None:
                return None
        if not isinstance(exc, BaseException):
            return None
        return client.capture_exception(exc, level=level, handled=True,
                                        attributes=attributes)
    except Exception:  # noqa: BLE001
        return None


def capture_message(message: str, level: str = "info", *,
                    attributes: dict[str, Any] | None = None) -> str | None:
    """Send ``message`` as an error-tracking event (an issue); its event ID."""
    client = _hub.client
    if client is None:
        return None
    try:
        return client.capture_message(message, level, attributes)
    except Exception:  # noqa: BLE001
        return None


def flush(timeout: float = 2.0) -> bool:
    """Block up to ``timeout`` seconds until everything captured so far is delivered."""
    client = _hub.client
    if client is None:
        return True
    try:
        return client.flush(timeout)
    except Exception:  # noqa: BLE001
        return False


def close(timeout: float = 2.0) -> bool:
    """Flush within ``timeout``, then disable the SDK (``init`` enables it again)."""
    client = _hub.client
    if client is None:
        return True
    try:
        done = client.flush(timeout)
        _hub.set_client(None)
        _logging.uninstall()
        return done
    except Exception:  # noqa: BLE001
        return False
