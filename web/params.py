"""Parsing read-API query parameters into typed values with clear 400 messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from collector.normalize import LEVELS
from collector.queries import QueryError

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(name: str, value: str | None, now: float) -> float | None:
    """Epoch seconds, RFC 3339, or a duration ago such as ``15m``, ``24h``, ``7d``."""
    if value is None or value == "":
        return None
    value = value.strip()
    if m := _RELATIVE.fullmatch(value):
        return now - float(m.group(1)) * _UNITS[m.group(2)]
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
