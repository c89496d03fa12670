"""Client-side metric aggregation into 10-second buckets.

A hot loop calling ``metrics.increment`` costs one dict update under a lock,
not a record: the sender thread collects finished buckets (all of them on
flush) and sends one record per series per bucket. Counters are summed,
gauges keep last/min/max/sum/count, timings become histograms over the same
fixed bucket bounds the collector uses, so they merge by addition there.
The number of series per bucket is capped; observations for new series
beyond the cap are dropped and counted as dropped metrics.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable, Optional

BUCKET_SECONDS = 10
MAX_SERIES = 10_000
MAX_TAGS = 64  # the collector rejects a metric with more
# Upper bounds in milliseconds; the collector's fixed ladder (collector/buckets.py).
BOUNDS: tuple[float, ...] = (
    0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, math.inf,
)
BOUND_NAMES: tuple[str, ...] = tuple(
    "+Inf" if math.isinf(b) else (str(int(b)) if float(b).is_integer() else str(b))
    for b in BOUNDS)

Tags = Optional[Mapping[str, Any]]
TagKey = tuple


def _tag_key(tags: Mapping[str, Any]) -> TagKey:
    """A hashable, order-independent key for ``tags``; cheap for the usual str->str case.

    Values are turned into bounded strings only when the record is built, on
    the sender thread; odd keys/values (unhashable, unorderable) take the
    slow path here.
    """
    try:
        key = tuple(tags.items()) if len(tags) == 1 else tuple(sorted(tags.items()))
        hash(key)
        return key
    except TypeError:
        return tuple(sorted((str(k), str(v)) for k, v in tags.items()))


class Aggregator:
    """Holds the current buckets; thread-safe; collected by the sender thread."""

    def __init__(self, clock: Callable[[], float] = time.time,
                 on_overflow: Callable[[int], None] | None = None) -> None:
        self._clock = clock
        self._on_overflow = on_overflow
        self._lock = threading.Lock()
        # (bucket, name, tag key) -> state; one dict per kind.
        self._counters: dict[tuple, list] = {}
        self._gauges: dict[tuple, list] = {}
        self._timings: dict[tuple, list] = {}

    def reset(self) -> None:
        """Forget everything (a forked child must not resend the parent's counts)."""
        self._lock = threading.Lock()
        self._counters, self._gauges, self._timings = {}, {}, {}

    def _series(self) -> int:
        return len(self._counters) + len(self._gauges) + len(self._timings)

    def increment(self, name: str, value: float = 1, tags: Tags = None) -> None:
        if value.__class__ is not int:  # ints are finite; skip the checks on the hot path
            value = float(value)
            if not math.isfinite(value):
                return
        key = (int(self._clock() // BUCKET_SECONDS), name, _tag_key(tags) if tags else ())
        with self._lock:
            state = self._counters.get(key)
            if state is not None:
                state[0] += value
                state[1] += 1
            elif self._series() < MAX_SERIES:
                self._counters[key] = [value, 1]
            elif self._on_overflow is not None:
                self._on_overflow(1)

    def gauge(self, name: str, value: float, tags: Tags = None) -> None:
        key = (int(self._clock() // BUCKET_SECONDS), name, _tag_key(tags) if tags else ())
        value = float(value)
        if not math.isfinite(value):
            return
        with self._lock:
            state = self._gauges.get(key)
            if state is not None:  # last, min, max, sum, count
                state[0] = value
                state[1] = min(state[1], value)
                state[2] = max(state[2], value)
                state[3] += value
                state[4] += 1
            elif self._series() < MAX_SERIES:
                self._gauges[key] = [value, value, value, value, 1]
            elif self._on_overflow is not None:
                self._on_overflow(1)

    def timing(self, name: str, value_ms: float, tags: Tags = None) -> None:
        key = (int(self._clock() // BUCKET_SECONDS), name, _tag_key(tags) if tags else ())
        value = float(value_ms)
        if not math.isfinite(value):
            return
        index = bisect.bisect_left(BOUNDS, value) if value > 0 else 0
        with self._lock:
            state = self._timings.get(key)
            if state is not None:  # count, sum, min, max, bucket counts
                state[0] += 1
                state[1] += value
                state[2] = min(state[2], value)
                state[3] = max(state[3], value)
                state[4][index] += 1
            elif self._series() < MAX_SERIES:
                counts = [0] * len(BOUNDS)
                counts[index] = 1
                self._timings[key] = [1, value, value, value, counts]
            elif self._on_overflow is not None:
                self._on_overflow(1)

    def collect(self, force: bool = False) -> list[dict[str, Any]]:
        """Wire records for finished buckets (every bucket when ``force``), removing them."""
        current = int(self._clock() // BUCKET_SECONDS)
        with self._lock:
            taken = [(kind, self._pop(table, current, force)) for kind, table in
                     (("counter", self._counters), ("gauge", self._gauges),
                      ("histogram", self._timings))]
        records = []
        for kind, items in taken:
            for (bucket, name, tag_key), state in items:
                records.append(_record(kind, bucket, name, tag_key, state))
        return records

    @staticmethod
    def _pop(table: dict[tuple, list], current: int, force: bool) -> list[tuple[tuple, list]]:
        keys = [k for k in table if force or k[0] < current]
        return [(k, table.pop(k)) for k in keys]


def _record(kind: str, bucket: int, name: str, tag_key: TagKey, state: list) -> dict[str, Any]:
    rec: dict[str, Any] = {"ts": float(bucket * BUCKET_SECONDS), "name": name, "kind": kind}
    if tag_key:
        rec["tags"] = {str(k)[:200]: str(v)[:200] for k, v in tag_key[:MAX_TAGS]}
    if kind == "counter":
        rec["value"], rec["count"] = float(state[0]), state[1]
    elif kind == "gauge":
        rec.update(value=state[0], min=state[1], max=state[2], sum=state[3], count=state[4])
    else:
        count, total, low, high, counts = state
        rec.update(value=total / count, count=count, sum=total, min=low, max=high,
                   buckets={BOUND_NAMES[i]: n for i, n in enumerate(counts) if n})
    return rec
