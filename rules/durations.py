"""Durations in rules files: ``30s``, ``5m``, ``1h30m``, ``2d`` (or a bare number of seconds)."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# No rule window or silence comes near this; past it a time plus the duration stops
# being a date anything can show (and "9"*400 + "s" parses to infinity).
MAX_DURATION = 10 * 365 * 86400


class DurationError(ValueError):
    """The text is not a duration; the message says what is accepted."""


def parse_duration(value: object) -> float:
    """Seconds in ``value``; a number means seconds, text uses Prometheus-style units."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration (use e.g. 30s, 5m, 1h)")
    if isinstance(value, (int, float)):
        if value < 0:
            raise DurationError("a duration cannot be negative")
        return _bounded(float(value))
    if not isinstance(value, str):
        raise DurationError(f"{value!r} is not a duration (use e.g. 30s, 5m, 1h)")
    text = value.strip()
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise DurationError(f"{value[:40]!r} is not a duration (use e.g. 30s, 5m, 1h30m, 2d)")
    return _bounded(total)


def _bounded(seconds: float) -> float:
    """``seconds`` if finite and at most :data:`MAX_DURATION` (NaN would compare false to all)."""
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise DurationError("a duration must be finite and at most 10 years (3650d)")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form for messages: ``5m``, ``1h30m``, ``45s``."""
    seconds = round(seconds)
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])
