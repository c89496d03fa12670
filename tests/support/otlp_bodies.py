"""OTLP export requests as the real OpenTelemetry Python SDK encodes them, in-process.

The SDK's providers record into in-memory exporters / readers (never the
global providers), and the exporters' own encoders (``encode_spans``,
``encode_logs``, ``encode_metrics``) build the protobuf messages that
``opentelemetry-exporter-otlp-proto-http`` would post. :func:`otlp_json`
turns one into OTLP's JSON (protobuf's JSON mapping with hex ids).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

RESOURCE = Resource.create({"service.name": "json-shop", "deployment.environment.name": "stage",
                            "service.version": "3.1", "host.name": "box-2"})
_IDS = {"traceId", "spanId", "parentSpanId"}


def traces(requests: int = 2, status: int = 500) -> Any:
    """An ExportTraceServiceRequest: per request a SERVER span and a child, last one failing."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    for i in range(requests):
        with tracer.start_as_current_span("POST /pay", kind=SpanKind.SERVER, attributes={
                "http.request.method": "POST", "http.route": "/pay",
                "http.request.header.x-request-id": [f"pay-{i}"]}) as span:
            with tracer.start_as_current_span("charge card"):
                pass
            failed = i == requests - 1
            span.set_attribute("http.response.status_code", status if failed else 201)
            if failed:
                try:
                    raise RuntimeError("card declined")
                except RuntimeError as exc:
                    span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR))
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def logs(messages: tuple[str, ...] = ("paid", "refund failed")) -> Any:
    """An ExportLogsServiceRequest of Python ``logging`` records (info, then error)."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"tests.otlp.{id(provider)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        for i, message in enumerate(messages):
            (logger.info if i % 2 == 0 else logger.error)(message, extra={"order_id": i})
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    return encode_logs(exporter.get_finished_logs())


def metrics() -> Any:
    """An ExportMetricsServiceRequest: a cumulative counter, an up-down counter, a histogram."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("tests")
    meter.create_counter("jobs.done").add(5, {"queue": "mail"})
    meter.create_up_down_counter("jobs.waiting").add(7)
    histogram = meter.create_histogram("job.ms", unit="ms")
    for value in (3, 40, 700):
        histogram.record(value)
    data = reader.get_metrics_data()
    provider.shutdown()
    return encode_metrics(data)


def otlp_json(message: Any) -> dict[str, Any]:
    """OTLP JSON: protobuf's JSON mapping, enums as numbers, trace and span ids in hex."""
    tree = json_format.MessageToDict(message, use_integers_for_enums=True)
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _IDS and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return tree
