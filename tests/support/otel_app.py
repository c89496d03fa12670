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


TWO_SERVICES = r'''
import logging, sys
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

base, key, fragments = sys.argv[1], sys.argv[2], int(sys.argv[3])
headers = {"Authorization": "Bearer " + key}
providers = []

def service(name):
    resource = Resource.create({"service.name": name, "deployment.environment": "prod"})
    traces = TracerProvider(resource=resource)
    traces.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=base + "/v1/traces", headers=headers)))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
        endpoint=base + "/v1/logs", headers=headers)))
    log = logging.getLogger(name)
    log.addHandler(LoggingHandler(logger_provider=logs))
    log.setLevel(logging.INFO)
    log.propagate = False
    providers.extend([traces, logs])
    return traces.get_tracer(name), log

gateway, gateway_log = service("gateway")
inventory, inventory_log = service("inventory")

def reserve(sku):
    raise LookupError(f"sku {sku} is gone")

with gateway.start_as_current_span("POST /checkout", kind=SpanKind.SERVER, attributes={
        "http.request.method": "POST", "http.route": "/checkout",
        "http.request.header.x-request-id": ["checkout-42"]}) as root:
    trace_id = format(root.get_span_context().trace_id, "032x")
    gateway_log.info("checkout started for cart 42")
    with gateway.start_as_current_span("POST inventory /reserve", kind=SpanKind.CLIENT,
                                       attributes={"http.request.method": "POST"}):
        carrier = {}
        inject(carrier)  # traceparent, as the HTTP client would send it
        with inventory.start_as_current_span("POST /reserve", context=extract(carrier),
                                             kind=SpanKind.SERVER, attributes={
                "http.request.method": "POST", "http.route": "/reserve"}) as server:
            with inventory.start_as_current_span("SELECT stock", kind=SpanKind.CLIENT,
                                                 attributes={"db.system": "postgresql"}):
                inventory_log.warning("stock query slow <b>not bold</b>")
            try:
                reserve(12)
            except LookupError as exc:
                server.record_exception(exc)
                server.set_status(Status(StatusCode.ERROR))
                server.set_attribute("http.response.status_code", 503)
    for i in range(fragments):
        with gateway.start_as_current_span(f"render fragment {i}"):
            pass
    gateway_log.error("checkout failed: inventory answered 503")
    root.set_attribute("http.response.status_code", 502)
    root.set_status(Status(StatusCode.ERROR))
for provider in providers:
    provider.force_flush()
for provider in providers:
    provider.shutdown()
print("TRACE", trace_id, flush=True)
'''


def run_two_services(workdir: Path, base: str, key: str, fragments: int = 3) -> str:
    """Two services of one trace (a gateway calling an inventory service, the trace context
    propagated as ``traceparent``), with logs and an exception, exported with the real SDK
    to ``base`` (the server's root URL); returns the trace id."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "two_services.py"
    script.write_text(TWO_SERVICES)
    result = subprocess.run([sys.executable, str(script), base, key, str(fragments)],
                            cwd=workdir, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed to export" not in result.stderr, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("TRACE "))
    return line.split()[1]
