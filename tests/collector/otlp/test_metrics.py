"""OTLP metric points -> metric rows: kinds, temporality, histogram bucket mapping."""

from __future__ import annotations

import msgspec
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from collector.normalize import METRIC_COLUMNS, Limits
from collector.otlp import metrics
from collector.otlp.cumulative import CumulativeState

NOW = 1_800_000_000.0
NS = 1_000_000_000
COL = {name: i for i, name in enumerate(METRIC_COLUMNS)}


def _request(**metric) -> ExportMetricsServiceRequest:
    message = ExportMetricsServiceRequest()
    rm = message.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "worker"
    m = rm.scope_metrics.add().metrics.add()
    m.name = "m"
    for key, value in metric.items():
        getattr(m, key).CopyFrom(value) if hasattr(value, "DESCRIPTOR") else setattr(m, key, value)
    return message


def _convert(message, state=None):
    return metrics.convert(1, message, NOW, Limits(), state or CumulativeState(started_at=NOW - 60))


def test_delta_sum_is_a_counter_and_gauge_a_gauge():
    message = _request()
    metric = message.resource_metrics[0].scope_metrics[0].metrics[0]
    metric.sum.aggregation_temporality = metrics.DELTA
    metric.sum.is_monotonic = True
    point = metric.sum.data_points.add(time_unix_nano=int(NOW * NS), as_int=3)
    point.attributes.add(key="queue").value.string_value = "mail"
    gauge = message.resource_metrics[0].scope_metrics[0].metrics.add(name="depth")
    gauge.gauge.data_points.add(time_unix_nano=int(NOW * NS), as_double=2.5)
    out = _convert(message)
    (counter, level) = out.rows.metrics
    assert (counter[COL["kind"]], counter[COL["value"]], counter[COL["service"]]) == \
        ("counter", 3, "worker")
    assert msgspec.json.decode(counter[COL["tags"]]) == {"queue": "mail"}
    assert (level[COL["name"]], level[COL["kind"]], level[COL["value"]]) == ("depth", "gauge", 2.5)
    assert out.rejected == 0


def test_cumulative_histogram_counts_the_interval():
    message = _request()
    metric = message.resource_metrics[0].scope_metrics[0].metrics[0]
    metric.histogram.aggregation_temporality = metrics.CUMULATIVE
    start = int((NOW - 30) * NS)
    metric.histogram.data_points.add(start_time_unix_nano=start, time_unix_nano=int(NOW * NS),
                                     count=3, sum=30, explicit_bounds=[5, 50],
                                     bucket_counts=[1, 1, 1], min=1, max=20)
    state = CumulativeState(started_at=NOW - 60)
    first = _convert(message, state)
    state.commit(first.series)
    (row,) = first.rows.metrics
    assert (row[COL["count"]], row[COL["sum"]], row[COL["min"]]) == (3, 30, 10)  # mean for min
    buckets = msgspec.json.decode(row[COL["buckets"]])
    assert buckets[3] == 1 and buckets[6] == 1 and buckets[-1] == 1  # 5, 50, +Inf
    point = metric.histogram.data_points[0]
    point.time_unix_nano, point.count, point.sum = int((NOW + 10) * NS), 5, 50
    point.bucket_counts[:] = [2, 2, 1]
    (row,) = _convert(message, state).rows.metrics
    assert (row[COL["count"]], row[COL["sum"]]) == (2, 20)
    assert sum(msgspec.json.decode(row[COL["buckets"]])) == 2


def test_exponential_histogram_goes_to_fixed_buckets():
    message = _request()
    metric = message.resource_metrics[0].scope_metrics[0].metrics[0]
    metric.exponential_histogram.aggregation_temporality = metrics.DELTA
    point = metric.exponential_histogram.data_points.add(
        time_unix_nano=int(NOW * NS), count=4, sum=1000, scale=0, zero_count=1)
    point.positive.offset = 3  # scale 0: bucket i holds (2**i, 2**(i+1)]
    point.positive.bucket_counts[:] = [2, 0, 0, 0, 0, 0, 1]  # (8, 16] twice, (512, 1024] once
    (row,) = _convert(message).rows.metrics
    buckets = msgspec.json.decode(row[COL["buckets"]])
    assert buckets[0] == 1 and buckets[5] == 2 and buckets[11] == 1  # 0.5, 25, 2500
    assert row[COL["count"]] == 4


def test_summary_and_nameless_metrics_are_rejected():
    message = _request()
    metric = message.resource_metrics[0].scope_metrics[0].metrics[0]
    metric.summary.data_points.add(count=1, sum=1)
    nameless = message.resource_metrics[0].scope_metrics[0].metrics.add()
    nameless.gauge.data_points.add(as_int=1)
    out = _convert(message)
    assert out.rows.metrics == [] and out.rejected == 2
    assert "summary data is not supported" in out.error_message
