"""Turning arbitrary app objects into small, JSON-safe values.

Everything the SDK captures (log ``extra=`` fields, local variables, tags)
may be huge, self-referencing, or have a ``__repr__`` that raises. ``normalize``
walks at most ``MAX_DEPTH`` levels and ``MAX_ITEMS`` items per container,
slices strings *before* copying them, and falls back to a safe ``repr`` — so
capturing can neither raise nor allocate without bound.
"""

from __future__ import annotations

import math
from typing import Any

MAX_STRING = 1024
MAX_ITEMS = 50
MAX_DEPTH = 4
MAX_MESSAGE = 16_384
TRUNCATED = "…"

_PRIMITIVES = (bool, int, type(None))


def clip(text: str, limit: int = MAX_STRING) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    if len(text) > limit:
        return text[:limit] + TRUNCATED
    return text


def safe_repr(value: Any, limit: int = MAX_STRING) -> str:
    """``repr(value)`` that never raises and is at most ``limit`` characters."""
    try:
        text = repr(value)
    except BaseException:  # noqa: BLE001 - a broken __repr__ must not reach the app
        try:
            return f"<unrepresentable {type(value).__name__}>"
        except BaseException:  # noqa: BLE001
            return "<unrepresentable>"
    if not isinstance(text, str):
        return "<unrepresentable>"
    return clip(text, limit)


def safe_str(value: Any, limit: int = MAX_MESSAGE) -> str:
    """``str(value)`` that never raises, cut to ``limit`` characters."""
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001
        return safe_repr(value, limit)
    if not isinstance(text, str):
        return safe_repr(value, limit)
    return clip(text, limit)


def normalize(value: Any, depth: int = MAX_DEPTH) -> Any:
    """A JSON-encodable copy of ``value`` with bounded size; never raises."""
    try:
        return _normalize(value, depth)
    except BaseException:  # noqa: BLE001 - e.g. RecursionError, a raising __iter__
        return safe_repr(value)


def _normalize(value: Any, depth: int) -> Any:
    if isinstance(value, _PRIMITIVES):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            return str(value)
        return value
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return safe_repr(bytes(value[: MAX_STRING + 1]))
    if depth <= 0:
        return safe_repr(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more"
                break
            name = key if isinstance(key, str) else safe_repr(key, 200)
            out[clip(name, 200)] = _normalize(item, depth - 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = []
        for i, item in enumerate(value):
            if i >= MAX_ITEMS:
                items.append(f"… {len(value) - MAX_ITEMS} more")
                break
            items.append(_normalize(item, depth - 1))
        return items
    return safe_repr(value)
