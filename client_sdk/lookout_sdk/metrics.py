"""``lookout_sdk.metrics``: counters, gauges and timings, aggregated in-process.

Each call is a dict update (see :mod:`lookout_sdk._metrics`); records leave
the process once per 10-second bucket per series. Without ``init()`` every
call is a no-op. Nothing here raises into the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from lookout_sdk import _hub

__all__ = ["gauge", "increment", "timing"]

Tags = Optional[Mapping[str, Any]]


def _name(name: Any) -> str:
    if name.__class__ is str and 0 < len(name) <= 200:
        return name
    return str(name)[:200] or "unnamed"


def increment(name: str, value: float = 1, tags: Tags = None) -> None:
    """Add ``value`` to the counter ``name`` (summed per 10 s bucket)."""
    client = _hub.client
    if client is None:
        return
    try:
        if name.__class__ is not str or len(name) > 200 or not name:
            name = _name(name)
        client.aggregator.increment(name, value, tags)
    except Exception:  # noqa: BLE001
        pass


def gauge(name: str, value: float, tags: Tags = None) -> None:
    """Record the current value of ``name`` (last, min, max kept per bucket)."""
    client = _hub.client
    if client is None:
        return
    try:
        client.aggregator.gauge(_name(name), value, tags)
    except Exception:  # noqa: BLE001
        pass


def timing(name: str, value_ms: float, tags: Tags = None) -> None:
    """Record a duration in milliseconds into the histogram ``name``."""
    client = _hub.client
    if client is None:
        return
    try:
        client.aggregator.timing(_name(name), value_ms, tags)
    except Exception:  # noqa: BLE001
        pass
