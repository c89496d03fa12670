"""Parsing read-API query parameters into typed values with clear 400 messages."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from collector.normalize import LEVELS
from collector.queries import QueryError

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# Times outside 1970-01-01 .. 9999-12-31 cannot be shown (``datetime`` stops at
# year 9999) and no record carries them; NaN compared false with every bound and
# reached the charts, a 500.
EARLIEST = 0.0
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def parse_time(name: str, value: str | None, now: float) -> float | None:
    """Epoch seconds, RFC 3339, or a duration ago such as ``15m``, ``24h``, ``7d``.

    Raises QueryError for anything else, including NaN, infinities and times
    outside 1970..9999 (``1e300``, ``0001-01-01T00:00:00+23:59``, ``999999999w``).
    """
    if value is None or value == "":
        return None
    value = value.strip()
    try:
        if m := _RELATIVE.fullmatch(value):
            ts = now - float(m.group(1)) * _UNITS[m.group(2)]
        else:
            ts = _absolute(name, value)
    except OverflowError:
        ts = math.inf
    if not EARLIEST <= ts <= LATEST:  # False for NaN too
        raise QueryError(f"{name}: must be a time between 1970 and 9999 (got {value[:40]!r})")
    return ts


def _absolute(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise QueryError(f"{name}: use epoch seconds, RFC 3339, or a duration like 15m") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def parse_level(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return LEVELS[value.lower()]
    except KeyError:
        raise QueryError(f"level: unknown level {value[:20]!r}") from None


def parse_limit(value: str | None, default: int = 100, maximum: int = 1000) -> int:
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except ValueError:
        raise QueryError("limit: must be a whole number") from None
    if not 1 <= limit <= maximum:
        raise QueryError(f"limit: must be between 1 and {maximum}")
    return limit
