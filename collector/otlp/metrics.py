"""OTLP metrics -> ``metric_points`` rows (pure but for the cumulative state it is given).

- gauge -> ``gauge`` points;
- monotonic sum -> ``counter`` points of the increase (cumulative sums via
  :mod:`collector.otlp.cumulative`); a non-monotonic cumulative sum (an
  up-down counter) is a level, so a ``gauge``; a non-monotonic delta sum a
  ``counter`` of the change;
- histogram (explicit bounds) -> a ``histogram`` point with count, sum,
  min, max and its buckets moved onto Lookout's fixed bounds
  (:mod:`collector.buckets`): each client bucket's count goes to the fixed
  bucket holding its upper bound, so a quantile is at most one fixed bucket
  off. Cumulative histograms are turned into deltas first (min and max are
  then unknown: the mean stands for both);
- exponential histogram -> the same, each exponential bucket placed by its
  upper bound ``base ** (index + 1)``; negative buckets and the zero bucket
  go to the first fixed bucket (the loss is that of the fixed ladder);
- summary (deprecated in OTLP) is rejected with a reason in the partial success.

Points keep the client's unit: the fixed bounds are the millisecond ladder,
so a histogram in seconds lands in the lowest buckets. Point attributes are
the tags (strings, at most ``max_attributes``); the unit and the scope go
into the record's attributes.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import msgspec

from collector import normalize as n
from collector.buckets import BOUNDS, bucket_index
from collector.otlp import common
from collector.otlp.cumulative import CumulativeState, Delta, Point
from collector.otlp.result import Converted

_encode = msgspec.json.Encoder().encode
DELTA, CUMULATIVE = 1, 2


def convert(project_id: int, request: Any, now: float, limits: n.Limits,
            state: CumulativeState) -> Converted:
    """Rows of an ``ExportMetricsServiceRequest``; ``out.series`` holds state to commit."""
    out = Converted()
    for resource_metrics in request.resource_metrics:
        labels, _ = common.labels(resource_metrics.resource)
        resource_key = (labels.service, labels.environment, labels.release, labels.host)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _metric(project_id, metric, labels, resource_key, now, limits, state, out)
    return out


def _metric(project_id: int, metric: Any, labels: Any, resource_key: tuple[str, ...], now: float,
            limits: n.Limits, state: CumulativeState, out: Converted) -> None:
    which = metric.WhichOneof("data")
    name = metric.name[:200]
    if not name:
        out.reject("metric: a name is required", _point_count(metric, which))
        return
    attrs = {"unit": metric.unit[:50]} if metric.unit else {}
    if which == "gauge":
        points = [(p, "gauge") for p in metric.gauge.data_points]
    elif which == "sum":
        monotonic, temporality = metric.sum.is_monotonic, metric.sum.aggregation_temporality
        kind = "gauge" if temporality == CUMULATIVE and not monotonic else "counter"
        points = [(p, kind) for p in metric.sum.data_points]
    elif which in ("histogram", "exponential_histogram"):
        data = getattr(metric, which)
        for point in data.data_points:
            try:
                row = _histogram(project_id, name, which, data.aggregation_temporality, point,
                                 labels, resource_key, attrs, now, limits, state, out)
            except n.RecordError as exc:
                out.reject(str(exc))
                continue
            if row is not None:
                out.rows.metrics.append(row)
        return
    else:
        out.reject(f"metric {name!r}: {which or 'empty'} data is not supported",
                   _point_count(metric, which))
        return
    for point, kind in points:
        try:
            row = _number(project_id, name, kind, metric, point, labels, resource_key, attrs,
                          now, limits, state, out)
        except n.RecordError as exc:
            out.reject(str(exc))
            continue
        if row is not None:
            out.rows.metrics.append(row)


def _series(project_id: int, resource_key: tuple[str, ...], name: str,
            tags: dict[str, str]) -> bytes:
    """A series' identity, hashed: the state keeps 16 bytes, not up to 64 tags of text."""
    return hashlib.blake2b(_encode([project_id, resource_key, name, tags]),
                           digest_size=16).digest()


def _point_count(metric: Any, which: str | None) -> int:
    return len(getattr(metric, which).data_points) if which else 1


def _tags(point: Any, limits: n.Limits) -> dict[str, str]:
    raw = common.attributes(point.attributes, limits.max_attributes)
    return {k[:200]: (v if isinstance(v, str) else _encode(v).decode())[:200]
            for k, v in sorted(raw.items())}


def _row(project_id: int, ts: float, now: float, labels: Any, attrs: dict[str, Any], name: str,
         kind: str, value: float, count: int, total: float, low: float, high: float,
         tags: dict[str, str], buckets: list[int] | None, limits: n.Limits) -> tuple[Any, ...]:
    for number in (value, total, low, high):
        if not n.is_measurement(number):
            raise n.RecordError(f"metric {name!r}: values must be finite numbers of magnitude "
                                f"at most {n.MAX_MAGNITUDE:g}")
    if not 1 <= count <= n.MAX_COUNT:
        raise n.RecordError(f"metric {name!r}: count must be from 1 to {n.MAX_COUNT}")
    return (project_id, ts, now, labels.service, labels.environment, labels.release, labels.host,
            None, None, n.attributes_json(attrs, limits), name, kind, float(value), count,
            float(total), float(low), float(high), _encode(tags).decode() if tags else "{}",
            _encode(buckets).decode() if buckets is not None else "")


def _number(project_id: int, name: str, kind: str, metric: Any, point: Any, labels: Any,
            resource_key: tuple[str, ...], attrs: dict[str, Any], now: float, limits: n.Limits,
            state: CumulativeState, out: Converted) -> tuple[Any, ...] | None:
    value = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
    ts = common.timestamp(point.time_unix_nano, now, now, limits)
    tags = _tags(point, limits)
    sums = metric.sum if metric.WhichOneof("data") == "sum" else None
    if sums is not None and sums.aggregation_temporality == CUMULATIVE and sums.is_monotonic:
        if not math.isfinite(value):
            raise n.RecordError(f"metric {name!r}: values must be finite numbers")
        key = _series(project_id, resource_key, name, tags)
        delta = state.delta(key, Point(point.start_time_unix_nano, point.time_unix_nano,
                                       float(value)), out.series)
        if delta is None:
            return None
        value = delta.total
    return _row(project_id, ts, now, labels, attrs, name, kind, value, 1, value, value, value,
                tags, None, limits)


def _fixed_buckets(bounds: list[float], counts: list[int]) -> list[int]:
    """Client bucket counts (upper bounds ``bounds``, then +Inf) on the fixed bounds."""
    fixed = [0] * len(BOUNDS)
    for i, count in enumerate(counts):
        if count <= 0:
            continue
        upper = bounds[i] if i < len(bounds) else math.inf
        fixed[bucket_index(upper)] += min(count, n.MAX_COUNT)
    return fixed


def _exponential_buckets(point: Any) -> list[int]:
    """Exponential buckets on the fixed bounds, each by its upper bound."""
    fixed = [0] * len(BOUNDS)
    fixed[0] += point.zero_count + sum(point.negative.bucket_counts)
    try:
        base = 2.0 ** (2.0 ** -point.scale)
    except OverflowError:
        base = math.inf
    for i, count in enumerate(point.positive.bucket_counts):
        if count <= 0:
            continue
        try:
            upper = base ** (point.positive.offset + i + 1)
        except OverflowError:
            upper = math.inf
        fixed[bucket_index(upper)] += min(count, n.MAX_COUNT)
    return fixed


def _histogram(project_id: int, name: str, which: str, temporality: int, point: Any, labels: Any,
               resource_key: tuple[str, ...], attrs: dict[str, Any], now: float,
               limits: n.Limits, state: CumulativeState, out: Converted
               ) -> tuple[Any, ...] | None:
    ts = common.timestamp(point.time_unix_nano, now, now, limits)
    tags = _tags(point, limits)
    if which == "histogram":
        if len(point.bucket_counts) > 1000 or len(point.explicit_bounds) > 1000:
            raise n.RecordError(f"metric {name!r}: more than 1000 buckets")
        buckets = _fixed_buckets(list(point.explicit_bounds), list(point.bucket_counts))
    else:
        if len(point.positive.bucket_counts) + len(point.negative.bucket_counts) > 10_000:
            raise n.RecordError(f"metric {name!r}: more than 10000 buckets")
        buckets = _exponential_buckets(point)
    count, total = point.count, point.sum if point.HasField("sum") else 0.0
    low = point.min if point.HasField("min") else None
    high = point.max if point.HasField("max") else None
    if temporality == CUMULATIVE:
        if not math.isfinite(total):
            raise n.RecordError(f"metric {name!r}: sum must be a finite number")
        key = _series(project_id, resource_key, name, tags)
        delta: Delta | None = state.delta(
            key, Point(point.start_time_unix_nano, point.time_unix_nano, float(total), count,
                       tuple(buckets)), out.series)
        if delta is None:
            return None
        count, total = delta.count, delta.total
        buckets = [max(b, 0) for b in delta.buckets]
        low = high = None  # min and max since the start say nothing about this interval
    if count <= 0:
        return None  # nothing was observed in this interval
    mean = total / count
    return _row(project_id, ts, now, labels, attrs, name, "histogram", mean, count, total,
                mean if low is None else low, mean if high is None else high, tags, buckets,
                limits)
