"""Cumulative OTLP sums and histograms -> deltas, per series (in memory).

Lookout stores what happened in each interval (rollups add up), while a
cumulative point says what happened since the series' start time. The
delta needs the previous point of the same series: (project, resource,
metric name, point attributes). This module keeps, per series, the start
time and the last point seen, in memory, at most ``max_series`` of them
(least recently seen dropped first).

- The first point of a series counts in full when the series started after
  this Lookout process did (nothing of it can have been missed), else it only
  sets the baseline (nothing stored): so a restart of Lookout never counts a
  series' history twice; it loses at most one export interval per series.
- A later point counts ``value - previous``; a new start time or a smaller
  value (a reset: the app restarted) counts the new value in full; a point
  not newer than the previous one is a duplicate and counts nothing.
- The state advances only once the rows are committed (:meth:`commit`), so
  an export answered 503 and retried is counted once.

Several Lookout instances each keep their own state: behind a load balancer
that spreads one exporter's requests, prefer delta temporality
(``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

SeriesKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Point:
    """A cumulative position: start and time (ns), total, count and bucket counts."""

    start_ns: int
    time_ns: int
    total: float
    count: int = 0
    buckets: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Delta:
    total: float
    count: int
    buckets: tuple[int, ...]


class CumulativeState:
    """The last cumulative point per series, bounded."""

    def __init__(self, max_series: int = 100_000, started_at: float | None = None) -> None:
        self.max_series = max_series
        self.started_ns = int((time.time() if started_at is None else started_at) * 1e9)
        self._last: OrderedDict[SeriesKey, Point] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def delta(self, key: SeriesKey, point: Point, pending: dict[SeriesKey, Point]) -> Delta | None:
        """What ``point`` adds since the previous one; None when it adds nothing to store.

        ``pending`` holds points of this request not committed yet (a request may
        carry several points of one series); :meth:`commit` makes them the state.
        """
        previous = pending.get(key) or self._last.get(key)
        pending[key] = point
        if previous is None:
            if point.start_ns and point.start_ns >= self.started_ns:
                return Delta(point.total, point.count, point.buckets)
            return None  # baseline: its history may have been counted before a restart
        if point.start_ns == previous.start_ns and point.time_ns <= previous.time_ns:
            pending[key] = previous
            return None  # a duplicate or an older point
        if point.start_ns != previous.start_ns or point.total < previous.total \
                or point.count < previous.count:
            return Delta(point.total, point.count, point.buckets)  # the series was reset
        buckets = tuple(a - b for a, b in zip(point.buckets, previous.buckets, strict=False)) \
            if len(point.buckets) == len(previous.buckets) else point.buckets
        return Delta(point.total - previous.total, point.count - previous.count, buckets)

    def commit(self, pending: dict[SeriesKey, Point]) -> None:
        """Remember the points of a committed request."""
        for key, point in pending.items():
            self._last[key] = point
            self._last.move_to_end(key)
        while len(self._last) > self.max_series:
            self._last.popitem(last=False)
