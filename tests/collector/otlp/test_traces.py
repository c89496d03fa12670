"""OTLP spans -> rows: odd times never half-store a span."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.normalize import Limits
from collector.otlp import traces
from collector.spans import SPAN_COLUMNS

NOW = 1_800_000_000.0
NS = 1_000_000_000
S = {name: i for i, name in enumerate(SPAN_COLUMNS)}


def _request(start: float, end: float, event_at: float) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add(
        trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
        span_id=bytes.fromhex("00f067aa0ba902b7"), name="GET /x", kind=2,
        start_time_unix_nano=int(start * NS), end_time_unix_nano=int(end * NS))
    kv = span.attributes.add()
    kv.key, kv.value.int_value = "http.response.status_code", 500
    event = span.events.add(name="exception", time_unix_nano=int(event_at * NS))
    kv = event.attributes.add()
    kv.key, kv.value.string_value = "exception.type", "OSError"
    return message


def test_future_end_and_event_time_are_clamped_not_half_rejected():
    far = NOW + 10 * 365 * 86400
    out = traces.convert(1, _request(NOW - 1, far, far), NOW, Limits())
    assert out.rejected == 0
    (span,) = out.rows.spans
    assert span[S["duration_ms"]] == 1000.0  # ends at arrival
    (error,) = out.rows.errors
    assert error["ts"] == NOW - 1 and error["message"] == "OSError"
    assert len(out.rows.requests) == 1


def test_future_start_rejects_the_whole_span():
    far = NOW + 86400
    out = traces.convert(1, _request(far, far + 1, far), NOW, Limits())
    assert out.rejected == 1 and "in the future" in out.error_message
    assert (out.rows.spans, out.rows.requests, out.rows.errors) == ([], [], [])
