"""Run a small app instrumented with the real OpenTelemetry Python SDK in a subprocess.

It exports logs, traces and metrics with ``opentelemetry-exporter-otlp-proto-http``
(protobuf; traces gzip-compressed) to a Lookout, the key in a header the test
chooses. A subprocess keeps the SDK's global state out of the test runner.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

APP = r'''
import json, logging, sys
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

base, headers, requests = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
resource = Resource.create({"service.name": "otel-shop", "deployment.environment": "prod",
                            "service.version": "2.0.1", "host.name": "web-1"})
traces = TracerProvider(resource=resource)
traces.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
    endpoint=base + "/traces", headers=headers, compression=Compression.Gzip)))
tracer = traces.get_tracer("shop")
logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
    endpoint=base + "/logs", headers=headers)))
log = logging.getLogger("shop.orders")
log.addHandler(LoggingHandler(logger_provider=logs))
log.setLevel(logging.INFO)
reader = PeriodicExportingMetricReader(OTLPMetricExporter(
    endpoint=base + "/metrics", headers=headers), export_interval_millis=3_600_000)
meters = MeterProvider(resource=resource, metric_readers=[reader])
meter = meters.get_meter("shop")
orders = meter.create_counter("orders.created")
checkout = meter.create_histogram("checkout.duration", unit="ms")

def load(order_id):
    raise ValueError(f"order {order_id} is broken")

trace_ids = []
for i in range(requests):
    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER, attributes={
            "http.request.method": "GET", "http.route": "/orders/{id}",
            "url.path": f"/orders/{i}"}) as span:
        trace_ids.append(format(span.get_span_context().trace_id, "032x"))
        with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT,
                                          attributes={"db.system": "postgresql"}):
            pass
        log.warning("order %s looked up", i)
        if i % 2:
            try:
                load(i)
            except ValueError as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("http.response.status_code", 500)
        else:
            span.set_attribute("http.response.status_code", 200)
    orders.add(1, {"plan": "pro"})
    checkout.record(10 + 100 * i)
traces.force_flush()
logs.force_flush()
meters.force_flush()  # a first cumulative export
orders.add(2, {"plan": "pro"})
meters.force_flush()  # the same series again: only the increase is new
traces.shutdown()
logs.shutdown()
meters.shutdown()
print("TRACES", json.dumps(trace_ids), flush=True)
'''


def run_otel_app(workdir: Path, base: str, headers: dict[str, str],
                 requests: int = 6) -> list[str]:
    """Run the app against ``base`` (``.../v1``); return the trace ids of its requests."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "otel_app.py"
    script.write_text(APP)
    result = subprocess.run([sys.executable, str(script), base, json.dumps(headers),
                             str(requests)], cwd=workdir, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed to export" not in result.stderr, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("TRACES "))
    return json.loads(line[len("TRACES "):])
