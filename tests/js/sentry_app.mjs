// An HTTP server traced by the real @sentry/node (tracesSampleRate 1.0), driven by
// tests/collector/test_node_clients.py and tests/web/test_browser_waterfall.py: DSN and
// request count on the command line; "records" as a third argument also makes each
// request log a line and the failing ones capture an error.
import * as Sentry from "@sentry/node";

const [dsn, count] = [process.argv[2], Number(process.argv[3] || 6)];
const records = process.argv[4] === "records";
Sentry.init({ dsn, tracesSampleRate: 1.0, environment: "test", release: "node-1",
              enableLogs: records });
Sentry.setTag("service", "node-shop");

const http = await import("node:http");
const server = http.createServer((req, res) => {
  const id = Number(req.url.split("/").pop());
  Sentry.startSpan({ name: "SELECT orders", op: "db.query" }, () => {
    if (records) Sentry.logger.warn(`order ${id} looked up`);
  });
  if (records && id % 2) Sentry.captureException(new TypeError(`order ${id} is broken`));
  res.statusCode = id % 2 ? 500 : 200;
  res.end("done");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const port = server.address().port;
for (let i = 0; i < count; i++) {
  const resp = await fetch(`http://127.0.0.1:${port}/orders/${i}`,
                           { headers: { "x-request-id": `node-${i}` } });
  await resp.text();
}
server.close();
const flushed = await Sentry.flush(10000);
console.log(flushed ? "flushed" : "NOT FLUSHED");
