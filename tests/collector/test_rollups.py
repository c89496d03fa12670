"""Rollup deltas and histogram quantiles."""

from __future__ import annotations

from collector import buckets, rollups
from collector import normalize as n


def _req(ts, status, duration, route="/a", unhandled=False):
    values = dict(project_id=1, ts=ts, received_at=ts, service="api", environment="prod",
                  release="", host="", request_id="r", trace_id=None, attributes="{}",
                  method="GET", route=route, status=status, duration_ms=duration,
                  unhandled=unhandled)
    return tuple(values[c] for c in n.REQUEST_COLUMNS)


def test_request_deltas_group_by_minute_and_route():
    rows = [_req(120.5, 200, 3), _req(130, 500, 30), _req(150, 200, 7, unhandled=True),
            _req(185, 200, 1, route="/b")]
    deltas = rollups.request_deltas(rows)
    assert [(d["minute"], d["route"], d["count"], d["errors"]) for d in deltas] == [
        (120, "/a", 3, 2), (180, "/b", 1, 0)]
    first = deltas[0]
    assert first["duration_sum"] == 40
    assert sum(first[c] for c in buckets.COLUMNS) == 3
    assert first[buckets.COLUMNS[buckets.bucket_index(30)]] == 1


def test_metric_deltas_keep_min_max_last_and_buckets():
    def metric(ts, value, kind="gauge", tags="{}"):
        values = dict(project_id=1, ts=ts, received_at=ts, service="s", environment="",
                      release="", host="", request_id=None, trace_id=None, attributes="{}",
                      name="q", kind=kind, value=value, count=1, sum=value, min=value, max=value,
                      tags=tags, buckets="")
        return tuple(values[c] for c in n.METRIC_COLUMNS)

    deltas = rollups.metric_deltas([metric(61, 5), metric(62, 1), metric(70, 9), metric(65, 3),
                                    metric(61, 4, tags='{"a":"b"}')])
    assert len(deltas) == 2
    plain = next(d for d in deltas if d["tags"] == "{}")
    assert (plain["count"], plain["sum"], plain["min"], plain["max"], plain["last"]) == (
        4, 18, 1, 9, 9)


def test_log_deltas_count_per_level():
    def log(ts, level):
        values = dict(project_id=1, ts=ts, received_at=ts, service="s", environment="e",
                      release="", host="", request_id=None, trace_id=None, attributes="{}",
                      level=level, logger="", message="m")
        return tuple(values[c] for c in n.LOG_COLUMNS)

    deltas = rollups.log_deltas([log(1, 20), log(2, 20), log(3, 40), log(61, 20)])
    assert [(d["minute"], d["level"], d["count"]) for d in deltas] == [(0, 20, 2), (0, 40, 1),
                                                                     (60, 20, 1)]


def test_quantiles_interpolate_inside_buckets():
    counts = [0] * len(buckets.BOUNDS)
    counts[buckets.bucket_index(40)] = 100  # all in the 25..50 bucket
    assert buckets.quantile(counts, 0.5) == 37.5
    assert buckets.quantile(counts, 1.0) == 50
    assert buckets.quantile([0] * len(buckets.BOUNDS), 0.5) is None
    counts = [0] * len(buckets.BOUNDS)
    counts[-1] = 10
    assert buckets.quantile(counts, 0.99) == 60000
    assert buckets.bucket_index(float("nan")) == 0 and buckets.bucket_index(1e9) == len(
        buckets.BOUNDS) - 1
