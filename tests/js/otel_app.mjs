// A Node app instrumented with the real OpenTelemetry JS SDK, exporting logs, traces and
// metrics over OTLP/HTTP protobuf, driven by tests/collector/test_node_clients.py.
// Arguments: the OTLP base URL (".../v1"), the project key, the number of requests.
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

const [base, key, count] = [process.argv[2], process.argv[3], Number(process.argv[4] || 6)];
const headers = { "X-Lookout-Key": key };
const resource = resourceFromAttributes({
  "service.name": "node-otel", "deployment.environment.name": "prod", "service.version": "9.1",
});
const tracerProvider = new BasicTracerProvider({
  resource,
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/traces`, headers }))],
});
const loggerProvider = new LoggerProvider({
  resource,
  processors: [new BatchLogRecordProcessor({
    exporter: new OTLPLogExporter({ url: `${base}/logs`, headers }),
  })],
});
const reader = new PeriodicExportingMetricReader({
  exporter: new OTLPMetricExporter({ url: `${base}/metrics`, headers }),
  exportIntervalMillis: 3600000,
});
const meterProvider = new MeterProvider({ resource, readers: [reader] });
const tracer = tracerProvider.getTracer("shop");
const logger = loggerProvider.getLogger("shop.node");
const orders = meterProvider.getMeter("shop").createCounter("node.orders");

const traceIds = [];
for (let i = 0; i < count; i++) {
  const span = tracer.startSpan("GET /orders/:id", {
    kind: SpanKind.SERVER,
    attributes: { "http.request.method": "GET", "http.route": "/orders/:id" },
  });
  traceIds.push(span.spanContext().traceId);
  const ctx = trace.setSpan(context.active(), span);
  tracer.startSpan("SELECT orders", { kind: SpanKind.CLIENT, attributes: { "db.system": "postgresql" } },
                   ctx).end();
  logger.emit({ severityNumber: 13, severityText: "WARN", body: `order ${i} looked up`,
                context: ctx, attributes: { order: i } });
  if (i % 2) {
    span.recordException(new TypeError(`order ${i} is broken`));
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.setAttribute("http.response.status_code", 500);
  } else {
    span.setAttribute("http.response.status_code", 200);
  }
  span.end();
  orders.add(1, { plan: "pro" });
}
await tracerProvider.forceFlush();
await loggerProvider.forceFlush();
await meterProvider.forceFlush();
await Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown()]);
console.log("TRACES " + JSON.stringify(traceIds));
