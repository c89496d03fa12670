"""``init()`` options: one dataclass, a docstring per field, lenient validation.

A wrong option must not take the app down (the SDK is optional
infrastructure), so :func:`build_options` replaces a bad value by its default
and logs a warning naming it, instead of raising.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from lookout_sdk._dsn import Dsn, parse_dsn
from lookout_sdk._scrub import DEFAULT_SCRUB_KEYS
from lookout_sdk.errors import DsnError
from lookout_sdk.transport import HTTPTransport, Transport

log = logging.getLogger("lookout_sdk")


@dataclass
class Options:
    dsn: Dsn | None = None
    """Where to send; from ``dsn=`` or ``LOOKOUT_DSN``. None disables the SDK."""

    service: str = ""
    """Name of this app (``LOOKOUT_SERVICE``; default: the script's name)."""

    environment: str = ""
    """``production``, ``staging``... (``LOOKOUT_ENVIRONMENT``)."""

    release: str = ""
    """Version of the app (``LOOKOUT_RELEASE``)."""

    host: str = ""
    """Host name sent with every batch (default: ``socket.gethostname()``)."""

    sample_rate: float = 1.0
    """Fraction of log records kept (0..1). Errors, metrics and requests are never sampled."""

    level: int = logging.INFO
    """Lowest ``logging`` level captured by the root-logger handler."""

    max_queue: int = 10_000
    """Records held in memory at most; beyond it the newest are dropped and counted."""

    flush_interval: float = 1.0
    """Seconds between sends when batches are not full."""

    max_batch_records: int = 1_000
    """Records per request at most."""

    max_batch_bytes: int = 1_000_000
    """Uncompressed JSON bytes per request, about (one record may exceed it)."""

    before_send: Callable[[dict, str], dict | None] | None = None
    """``hook(record, kind) -> record | None`` on the sender thread; None drops the record."""

    scrub_keys: tuple[str, ...] = DEFAULT_SCRUB_KEYS
    """Key fragments whose values are redacted in attributes, local variables and headers."""

    include_local_variables: bool = True
    """Send each frame's local variables with errors (normalised, size-capped, scrubbed)."""

    capture_unhandled: bool = True
    """Capture uncaught exceptions via ``sys.excepthook`` and ``threading.excepthook``."""

    shutdown_timeout: float = 2.0
    """Seconds the ``atexit`` flush may take at most."""

    transport: Transport = field(default_factory=HTTPTransport)
    """How batches travel; see :mod:`lookout_sdk.transport`."""

    def resource(self) -> dict[str, str]:
        return {k: v for k, v in (("service", self.service), ("environment", self.environment),
                                  ("release", self.release), ("host", self.host)) if v}


def _default_service() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return (name.removesuffix(".py")) or "python"


def _number(name: str, value: Any, default: float, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:
        log.warning("lookout_sdk: %s=%r is not a number in [%s, %s]; using %s",
                    name, value, low, high, default)
        return default
    return number


def _text(name: str, value: Any, env: str, default: str = "") -> str:
    if value is None:
        value = os.environ.get(env, default)
    if not isinstance(value, str):
        log.warning("lookout_sdk: %s must be a string; ignoring %r", name, value)
        value = default
    return value[:200]


def build_options(dsn: str | None = None, **kwargs: Any) -> Options:
    """Options from ``init()`` arguments and the environment; never raises."""
    raw_dsn = dsn if dsn is not None else os.environ.get("LOOKOUT_DSN", "")
    parsed: Dsn | None = None
    if raw_dsn:
        try:
            parsed = parse_dsn(raw_dsn)
        except DsnError as exc:
            log.warning("lookout_sdk: disabled, bad DSN: %s", exc)
    opts = Options(dsn=parsed)
    opts.service = _text("service", kwargs.pop("service", None), "LOOKOUT_SERVICE",
                         _default_service())
    opts.environment = _text("environment", kwargs.pop("environment", None), "LOOKOUT_ENVIRONMENT")
    opts.release = _text("release", kwargs.pop("release", None), "LOOKOUT_RELEASE")
    host = kwargs.pop("host", None)
    opts.host = _text("host", host, "LOOKOUT_HOST", socket.gethostname() if host is None else "")
    opts.sample_rate = _number("sample_rate", kwargs.pop("sample_rate", 1.0), 1.0, 0.0, 1.0)
    opts.max_queue = int(_number("max_queue", kwargs.pop("max_queue", 10_000), 10_000, 1, 1e8))
    opts.flush_interval = _number("flush_interval", kwargs.pop("flush_interval", 1.0), 1.0,
                                  0.01, 3600)
    opts.max_batch_records = int(_number("max_batch_records",
                                         kwargs.pop("max_batch_records", 1000), 1000, 1, 10_000))
    opts.max_batch_bytes = int(_number("max_batch_bytes", kwargs.pop("max_batch_bytes", 1e6),
                                       1e6, 1024, 4e6))
    opts.shutdown_timeout = _number("shutdown_timeout", kwargs.pop("shutdown_timeout", 2.0),
                                    2.0, 0, 60)
    level = kwargs.pop("level", logging.INFO)
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    opts.level = int(_number("level", level, logging.INFO, 0, 100))
    before_send = kwargs.pop("before_send", None)
    if before_send is not None and not callable(before_send):
        log.warning("lookout_sdk: before_send is not callable; ignoring it")
        before_send = None
    opts.before_send = before_send
    scrub = kwargs.pop("scrub_keys", None)
    if scrub is None:
        scrub = DEFAULT_SCRUB_KEYS
    elif not isinstance(scrub, (list, tuple, set, frozenset)) or not all(
            isinstance(k, str) for k in scrub):
        log.warning("lookout_sdk: scrub_keys must be a list of strings; using the defaults")
        scrub = DEFAULT_SCRUB_KEYS
    opts.scrub_keys = tuple(scrub)
    opts.include_local_variables = bool(kwargs.pop("include_local_variables", True))
    opts.capture_unhandled = bool(kwargs.pop("capture_unhandled", True))
    transport = kwargs.pop("transport", None)
    if transport is not None and not callable(getattr(transport, "send", None)):
        log.warning("lookout_sdk: transport has no send(); using HTTPTransport")
        transport = None
    timeout = _number("timeout", kwargs.pop("timeout", 5.0), 5.0, 0.1, 300)
    opts.transport = transport or HTTPTransport(timeout=timeout)
    for name in kwargs:
        log.warning("lookout_sdk: unknown option %r ignored", name)
    return opts
