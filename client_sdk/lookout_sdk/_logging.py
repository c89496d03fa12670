"""Capturing stdlib ``logging``: one handler that sees every record.

The handler's ``emit`` is the SDK's hottest path, so it does the minimum on
the app thread: format the message, copy ``extra=`` fields (primitives as
they are, anything else normalised), stamp the request ID and append to the
queue. It overrides ``handle`` to skip the per-handler lock, since nothing
it touches needs it. Records of the SDK's own ``lookout_sdk`` logger, and
any logging that happens *while* the SDK is capturing on this thread (a
``__repr__`` that logs, say), are ignored, so capture can never recurse.
"""

from __future__ import annotations

import logging
import random
import re
from typing import Any

from lookout_sdk import _hub
from lookout_sdk._client import level_name
from lookout_sdk._serialize import MAX_MESSAGE, MAX_STRING, clip, normalize, safe_str

MAX_ATTRIBUTES = 60
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", "stack_info"}
_SIMPLE = (int, float, bool, type(None))
_LEVEL_NAMES: dict[int, str] = {}

_guard = _hub.guard


def _level(levelno: int) -> str:
    name = _LEVEL_NAMES.get(levelno)
    if name is None:
        name = _LEVEL_NAMES[levelno] = level_name(levelno)
    return name


def extra_attributes(record: logging.LogRecord) -> dict[str, Any] | None:
    """The ``extra=`` fields of a log record, JSON-safe and bounded."""
    keys = record.__dict__.keys() - _STANDARD
    if not keys:
        return None
    attrs: dict[str, Any] = {}
    values = record.__dict__
    for key in sorted(keys)[:MAX_ATTRIBUTES] if len(keys) > MAX_ATTRIBUTES else keys:
        value = values[key]
        kind = type(value)
        if kind is str:
            attrs[key] = value if len(value) <= MAX_STRING else clip(value)
        elif kind in _SIMPLE:
            attrs[key] = value
        else:
            attrs[key] = normalize(value)
    return attrs


# Terminal colour and cursor codes (CSI sequences: ESC [ params final-byte), which some
# libraries put in their messages (werkzeug's request lines); they mean nothing in a browser.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def _message(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - "%d" with a str argument etc.
        message = f"{safe_str(record.msg)} (unformattable args: {safe_str(record.args, 500)})"
    if "\x1b" in message:
        message = _ANSI.sub("", message)
    if len(message) > MAX_MESSAGE:
        message = clip(message, MAX_MESSAGE)
    return message


class LookoutHandler(logging.Handler):
    """Sends log records (and ``exc_info`` as errors) to the current client."""

    def handle(self, record: logging.LogRecord) -> bool:
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        client = _hub.client
        if client is None or getattr(_guard, "busy", False) or record.name.startswith(
                "lookout_sdk"):
            return
        _guard.busy = True
        try:
            self._capture(client, record)
        except Exception:  # noqa: BLE001 - never into the app
            pass
        finally:
            _guard.busy = False

    def _capture(self, client: Any, record: logging.LogRecord) -> None:
        message = _message(record)
        attrs = extra_attributes(record)
        sample = client.options.sample_rate
        if sample >= 1.0 or random.random() < sample:
            log_record: dict[str, Any] = {"ts": record.created, "level": _level(record.levelno),
                                          "logger": record.name[:200], "message": message}
            if attrs:
                log_record["attributes"] = attrs
            client.send_log(log_record)
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None:
            client.capture_exception(exc_info[1], level=_level(record.levelno), handled=True,
                                     mechanism="logging", message=message,
                                     logger=record.name, attributes=attrs, ts=record.created)


handler = LookoutHandler()
_original_call_handlers = logging.Logger.callHandlers
_in_chain = False  # our wrapper is part of Logger.callHandlers (maybe under another patch)


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    try:
        _original_call_handlers(self, record)
    finally:
        if record.levelno >= handler.level and _hub.client is not None:
            handler.handle(record)


def install(level: int) -> None:
    """Start capturing records of ``level`` and above, from every logger.

    Like sentry-sdk, the handler is called from ``Logger.callHandlers``
    rather than sitting in ``root.handlers``: frameworks that reconfigure
    logging after ``init()`` (Litestar's app start, Django's ``LOGGING``,
    uvicorn's ``log_config`` all call ``dictConfig``) would otherwise detach
    it silently. It sees each record once, after the app's own handlers.

    The root logger defaults to WARNING, which would hide the INFO records
    users expect to be captured. When root's level is above ``level`` it is
    lowered, and every handler already on root is raised to the old root
    level, so what the app printed before is exactly what it prints now.
    """
    root = logging.getLogger()
    handler.setLevel(level)
    if root.level > level:
        old = root.level
        for other in root.handlers:
            if other.level < old:
                other.setLevel(old)
        root.setLevel(level)
    global _in_chain
    if not _in_chain:
        logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
        _in_chain = True


def uninstall() -> None:
    """Stop capturing; undo the patch unless something patched on top of it since."""
    global _in_chain
    if logging.Logger.callHandlers is _call_handlers:
        logging.Logger.callHandlers = _original_call_handlers  # type: ignore[method-assign]
        _in_chain = False
