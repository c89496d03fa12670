"""Benchmark: the request page of a 2,000-span trace, through a real ``lookout serve``.

    .venv/bin/python bench/request_page.py [--spans 2000] [--logs 300] [--errors 20]
                                           [--rounds 60] [--db sqlite|postgres|both]
                                           [--pg-url ...]

For each database one server is started and seeded over real HTTP:

- **trace**: one trace of ``--spans`` spans over five services (OTLP/JSON to
  ``/v1/traces``: a gateway SERVER span, a CLIENT call and a SERVER span per
  downstream service, then nested database and cache spans), ``--logs`` log
  records on its spans (``/v1/logs``) and ``--errors`` exception events;
- **baseline**: a request with no spans and the same number of logs and
  errors (``/api/{id}/ingest``).

Then ``/requests/{id}`` (logged in) and ``/api/v1/requests/{id}`` (Bearer
token) are fetched ``--rounds`` times each, alternating trace and baseline,
one at a time over a keep-alive connection on loopback, so the time measured
is the server's (plus a loopback round trip). Target: the trace's page p95
<= 200 ms. The waterfall shows ``LOOKOUT_MAX_WATERFALL_SPANS`` (1,000) of the
spans, the rest counted.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sentry_ingest import (
    LOOKOUT,
    _cli,
    _drop_pg,
    _free_port,
    _pg_database,
    db_arguments,
    start_serve,
)

TRACE = "5c0ffee0000000000000000000000001"
SERVICES = ("gateway", "orders", "inventory", "payments", "shipping")
EMAIL, PASSWORD = "bench@example.com", "bench password 123"


def _attr(key: str, value) -> dict:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v}
                                                               for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def _ns(t0: float, ms: float) -> str:
    return str(int((t0 + ms / 1000) * 1e9))


def trace_bodies(t0: float, spans: int, logs: int, errors: int) -> tuple[list[dict], dict]:
    """OTLP/JSON ``/v1/traces`` bodies (one per service) and one ``/v1/logs`` body."""
    by_service: dict[str, list[dict]] = {s: [] for s in SERVICES}
    ids: list[tuple[str, str, float]] = []  # span id, service, start ms
    counter = iter(range(1, 10**9))

    def add(service: str, parent: str | None, name: str, kind: int, start: float, end: float,
            attrs: list | None = None) -> str:
        sid = f"{next(counter):016x}"
        body = {"traceId": TRACE, "spanId": sid, "name": name, "kind": kind,
                "startTimeUnixNano": _ns(t0, start), "endTimeUnixNano": _ns(t0, end),
                "attributes": attrs or [], "status": {"code": 1}}
        if parent:
            body["parentSpanId"] = parent
        by_service[service].append(body)
        ids.append((sid, service, start))
        return sid

    root = add("gateway", None, "POST /checkout", 2, 0, 900, [
        _attr("http.request.method", "POST"), _attr("http.route", "/checkout"),
        _attr("http.response.status_code", 200),
        _attr("http.request.header.x-request-id", ["bench-trace-1"])])
    downstream = SERVICES[1:]
    quotas = [(spans - 1) // len(downstream)] * len(downstream)
    quotas[-1] += (spans - 1) - sum(quotas)
    for n, (service, quota) in enumerate(zip(downstream, quotas, strict=True)):
        start = 10 + n * 180
        call = add("gateway", root, f"POST {service}", 3, start, start + 170)
        server = add(service, call, f"POST /{service}", 2, start + 2, start + 168, [
            _attr("http.request.method", "POST"), _attr("http.route", f"/{service}"),
            _attr("http.response.status_code", 200)])
        made, parent = 2, server  # spans of this service's share so far: the call and server
        while made < quota:
            at = start + 3 + (made % 160)
            if made % 10 == 0:  # a nested group: a handler span with queries under it
                parent = add(service, server, f"handle step {made}", 1, at, at + 8)
            else:
                add(service, parent, f"SELECT * FROM {service} WHERE id = $1", 3, at,
                    at + 0.4, [_attr("db.system", "postgresql")])
            made += 1
    spread = max(len(ids) // max(errors, 1), 1)
    for k in range(errors):  # exception events on downstream server spans
        sid, service, start = ids[(k * spread) % len(ids)]
        for body in by_service[service]:
            if body["spanId"] == sid:
                body.setdefault("events", []).append({
                    "name": "exception", "timeUnixNano": _ns(t0, start + 0.1),
                    "attributes": [_attr("exception.type", "TimeoutError"),
                                   _attr("exception.message", f"step {k} timed out")]})
                body["status"] = {"code": 2}
    records = []
    for k in range(logs):
        sid, service, start = ids[(k * 7) % len(ids)]
        records.append((service, {"timeUnixNano": _ns(t0, start + 0.05),
                                  "severityNumber": 13 if k % 5 == 0 else 9,
                                  "body": {"stringValue": f"step {k} of the checkout"},
                                  "traceId": TRACE, "spanId": sid}))
    traces = [{"resourceSpans": [{"resource": {"attributes": [_attr("service.name", s)]},
                                  "scopeSpans": [{"spans": by_service[s]}]}]}
              for s in SERVICES]
    log_body = {"resourceLogs": [
        {"resource": {"attributes": [_attr("service.name", s)]},
         "scopeLogs": [{"logRecords": [r for svc, r in records if svc == s]}]}
        for s in SERVICES]}
    return traces, log_body


def baseline_body(t0: float, logs: int, errors: int) -> dict:
    rid = "bench-plain-1"
    return {
        "requests": [{"request_id": rid, "method": "POST", "route": "/checkout", "status": 200,
                      "duration_ms": 900, "service": "gateway", "ts": t0}],
        "logs": [{"message": f"step {k} of the checkout", "service": SERVICES[k % 5],
                  "request_id": rid, "ts": t0 + k / 1000,
                  "level": "warning" if k % 5 == 0 else "info"} for k in range(logs)],
        "errors": [{"message": f"TimeoutError: step {k} timed out", "service": "orders",
                    "request_id": rid, "ts": t0 + k / 100,
                    "exception": [{"type": "TimeoutError", "value": f"step {k} timed out"}]}
                   for k in range(errors)],
    }


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def run_one(db_url: str, args: argparse.Namespace, workdir: str) -> dict[str, tuple]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env.update(LOOKOUT_DATABASE_URL=db_url, LOOKOUT_BASE_URL=base, LOOKOUT_LOG_LEVEL="warning")
    _cli(env, workdir, "migrate")
    dsn = urlsplit(_cli(env, workdir, "project", "create", "bench"))
    key, project_id = dsn.username or "", dsn.path.strip("/")
    token = _cli(env, workdir, "token", "create", "bench")
    subprocess.run([LOOKOUT, "user", "create", EMAIL, "--password-stdin"], env=env, cwd=workdir,
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    server = start_serve(env, workdir, port)
    try:
        t0 = time.time() - 300
        traces, logs = trace_bodies(t0, args.spans, args.logs, args.errors)
        otlp = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, timeout=60) as c:
            for body in [*traces]:
                c.post("/v1/traces", json=body, headers=otlp).raise_for_status()
            c.post("/v1/logs", json=logs, headers=otlp).raise_for_status()
            c.post(f"/api/{project_id}/ingest", json=baseline_body(t0, args.logs, args.errors),
                   headers={"X-Lookout-Key": key}).raise_for_status()
        ui = httpx.Client(base_url=base, timeout=60)
        form = ui.get("/login").text
        csrf = re.search(r'name="_csrf" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
        ui.post("/login", data={"_csrf": csrf, "email": EMAIL, "password": PASSWORD})
        api = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"})
        targets = {
            "page, 2,000-span trace": (ui, f"/requests/{TRACE}"),
            "page, baseline (no spans)": (ui, "/requests/bench-plain-1"),
            "API, 2,000-span trace": (api, f"/api/v1/requests/{TRACE}"),
            "API, baseline (no spans)": (api, "/api/v1/requests/bench-plain-1"),
        }
        checks = {name: client.get(path) for name, (client, path) in targets.items()}
        for name, resp in checks.items():
            assert resp.status_code == 200, (name, resp.status_code, resp.text[:300])
        page = checks["page, 2,000-span trace"].text
        shown = page.count('class="wf-node')
        assert "more spans not shown" in page and shown == 1000, shown
        fall = checks["API, 2,000-span trace"].json()["waterfall"]
        assert fall["total"] == args.spans, fall["total"]
        samples: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(5):  # warm-up
            for client, path in targets.values():
                client.get(path)
        for _ in range(args.rounds):
            for name, (client, path) in targets.items():
                started = time.perf_counter()
                client.get(path).raise_for_status()
                samples[name].append((time.perf_counter() - started) * 1000)
        sizes = {name: len(resp.content) for name, resp in checks.items()}
        ui.close()
        api.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    return {name: (*_percentiles(s), sizes[name]) for name, s in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--logs", type=int, default=300)
    parser.add_argument("--errors", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=60)
    db_arguments(parser)
    args = parser.parse_args()
    print(f"trace: {args.spans} spans over {len(SERVICES)} services, {args.logs} logs, "
          f"{args.errors} errors; baseline: no spans, same logs and errors; "
          f"{args.rounds} sequential fetches each (load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"{'database':10} {'what':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bytes':>10}")
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory() as workdir:
            if db == "sqlite":
                result = run_one(f"sqlite+aiosqlite:///{workdir}/bench.db", args, workdir)
            else:
                url, name = _pg_database(args.pg_url)
                try:
                    result = run_one(url, args, workdir)
                finally:
                    _drop_pg(args.pg_url, name)
        for what, (p50, p95, worst, size) in result.items():
            print(f"{db:10} {what:28} {p50:8.1f} {p95:8.1f} {worst:8.1f} {size:10,}")


if __name__ == "__main__":
    main()
