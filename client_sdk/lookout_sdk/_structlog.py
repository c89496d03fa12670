"""A structlog processor: ``(logger, method_name, event_dict) -> event_dict``.

Put it in the processor chain before the renderer. It sends the event as a
log record (``event`` is the message, the other keys become attributes) and
an ``exc_info`` as an error, then returns the event unchanged so the chain
goes on. structlog itself is not needed to import this module.

If structlog is configured to hand events to stdlib ``logging``
(``structlog.stdlib.LoggerFactory``), the root-logger handler already
captures them: use one of the two, not both, or lines arrive twice.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import MutableMapping
from typing import Any

from lookout_sdk import _hub
from lookout_sdk._client import level_name
from lookout_sdk._serialize import MAX_MESSAGE, normalize, safe_str

_SKIP = frozenset({"event", "level", "timestamp", "exc_info", "logger", "logger_name",
                   "_record", "_from_structlog"})
_NUMBERS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40,
            "critical": 50, "fatal": 50}


def structlog_processor(logger: Any, method_name: str,
                        event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Capture one structlog event; never raises, never changes the event."""
    client = _hub.client
    if client is None:
        return event_dict
    try:
        _capture(client, logger, method_name, event_dict)
    except Exception:  # noqa: BLE001
        pass
    return event_dict


def _capture(client: Any, logger: Any, method_name: str,
             event_dict: MutableMapping[str, Any]) -> None:
    level = level_name(event_dict.get("level") or method_name)
    if _NUMBERS.get(level, 20) < client.options.level:
        return
    name = event_dict.get("logger") or event_dict.get("logger_name") or getattr(
        logger, "name", None) or ""
    attrs = {str(k)[:200]: normalize(v) for k, v in list(event_dict.items())[:60]
             if k not in _SKIP}
    message = safe_str(event_dict.get("event", ""), MAX_MESSAGE)
    sample = client.options.sample_rate
    if sample >= 1.0 or random.random() < sample:
        record: dict[str, Any] = {"ts": time.time(), "level": level, "logger": str(name)[:200],
                                  "message": message}
        if attrs:
            record["attributes"] = attrs
        client.send_log(record)
    exc_info = event_dict.get("exc_info")
    exc: Any = None
    if isinstance(exc_info, BaseException):
        exc = exc_info
    elif isinstance(exc_info, tuple) and len(exc_info) == 3:
        exc = exc_info[1]
    elif exc_info is True or method_name == "exception":
        exc = sys.exc_info()[1]
    if isinstance(exc, BaseException):
        client.capture_exception(exc, level=level, handled=True, mechanism="structlog",
                                 message=message, logger=str(name)[:200],
                                 attributes=attrs or None)
