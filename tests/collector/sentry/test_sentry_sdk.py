"""End to end: apps using the real, unmodified ``sentry-sdk`` report to ``lookout serve``.

Each app runs in its own interpreter (see ``tests/support/sentry_app.py``),
once with ``brotli`` importable (the SDK sends ``br``) and once without it
(``gzip``). Results are read back through the read API.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.sentry_app import run_app

pytestmark = pytest.mark.e2e

APP = """
def checkout(order_id):
    raise ValueError(f"order {order_id} is invalid")


def refund(amount):
    return {"a": 1}[amount]


def load_config():
    try:
        int("nope")
    except ValueError as exc:
        raise RuntimeError("could not load config") from exc


for order in (17, 42):
    try:
        checkout(order)
    except ValueError:
        sentry_sdk.capture_exception()
try:
    refund("x")
except KeyError:
    sentry_sdk.capture_exception()
try:
    load_config()
except RuntimeError:
    sentry_sdk.capture_exception()
sentry_sdk.capture_message("cache warmed for 120 keys")
with sentry_sdk.new_scope() as scope:
    scope.set_tag("request_id", "req-77")
    sentry_sdk.capture_message("tagged with a request id")
payments = logging.getLogger("shop.payments")
payments.error("payment %s declined", "p-1")
payments.error("payment %s declined", "p-2")
sentry_sdk.logger.info("order {order_id} placed", order_id=42)
sentry_sdk.logger.warning("stock low for {sku}", sku="A1")
sentry_sdk.metrics.count("orders.created", 2, attributes={"plan": "pro"})
sentry_sdk.flush(timeout=10)
print("flushed", flush=True)
"""

# The same code as APP's first bug (same functions and lines), a later release.
AGAIN = """
def checkout(order_id):
    raise ValueError(f"order {order_id} is invalid")


for order in (99,):
    try:
        checkout(order)
    except ValueError:
        sentry_sdk.capture_exception()
sentry_sdk.flush(timeout=10)
"""

UNHANDLED = """
def reserve(sku):
    raise LookupError(f"inventory has no {sku}")


reserve("B-2")
"""


def _issues(api: httpx.Client, **params: str) -> dict[str, dict]:
    resp = api.get("/api/v1/issues", params=params)
    assert resp.status_code == 200, resp.text
    return {i["title"]: i for i in resp.json()["items"]}


def _poll(fetch, ready, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.mark.parametrize("brotli", [True, False], ids=["br", "gzip"])
def test_sentry_sdk_events_logs_and_grouping(server_factory, db_url, tmp_path, brotli):
    server = server_factory(db_url=db_url)
    dsn = server.create_project("shop")
    api = httpx.Client(base_url=server.url,
                       headers={"Authorization": f"Bearer {server.create_token()}"})

    out = run_app(tmp_path / "app", dsn, APP, brotli=brotli)
    assert "flushed" in out.stdout
    # flush() returned: everything the SDK sent was acknowledged, hence committed.
    issues = _issues(api)
    assert set(issues) == {
        "ValueError: order 17 is invalid", "KeyError: 'x'",
        "RuntimeError: could not load config", "cache warmed for 120 keys",
        "tagged with a request id", "payment p-1 declined",
    }, list(issues)
    same_bug = issues["ValueError: order 17 is invalid"]
    assert same_bug["count"] == 2  # same bug twice -> one issue
    assert same_bug["grouping"]["method"] == "in_app_frames"
    assert same_bug["culprit"] == "__main__ in checkout"
    assert same_bug["services"] == ["shop"] and same_bug["releases"] == ["1.0.0"]
    assert same_bug["environments"] == ["test"] and same_bug["status"] == "unresolved"
    assert sum(h["count"] for h in same_bug["hourly"]) == 2
    assert issues["KeyError: 'x'"]["count"] == 1  # a different bug -> its own issue
    assert issues["payment p-1 declined"]["count"] == 2  # logging: grouped by template
    assert issues["payment p-1 declined"]["grouping"]["inputs"] == {
        "template": "payment %s declined"}
    assert issues["cache warmed for 120 keys"]["level"] == "info"

    detail = api.get(f"/api/v1/issues/{issues['RuntimeError: could not load config']['id']}")
    assert detail.status_code == 200
    chained = detail.json()["latest_event"]
    assert [e["type"] for e in chained["exception"]] == ["ValueError", "RuntimeError"]
    hashed = detail.json()["grouping"]["inputs"]["exceptions"]  # every exception of the chain
    assert [e["type"] for e in hashed] == ["ValueError", "RuntimeError"]
    frames = chained["exception"][-1]["frames"]
    assert frames[-1]["function"] == "load_config" and frames[-1]["in_app"] is True
    assert chained["extra"]["tags"]["service"] == "shop"

    tagged = api.get("/api/v1/requests/req-77")
    assert tagged.status_code == 200
    assert [i["message"] for i in tagged.json()["items"]] == ["tagged with a request id"]
    # Without a request_id tag, the trace context links errors and logs of one trace.
    trace_id = same_bug_event_trace = api.get(
        f"/api/v1/issues/{same_bug['id']}").json()["latest_event"]["trace_id"]
    assert same_bug_event_trace
    timeline = api.get(f"/api/v1/requests/{trace_id}").json()["items"]
    assert {i["kind"] for i in timeline} == {"error", "log"}

    logs = _poll(lambda: api.get("/api/v1/logs", params={"q": "placed"}).json()["items"],
                 lambda items: len(items) == 1)
    assert logs[0]["message"] == "order 42 placed" and logs[0]["level"] == "info"
    assert logs[0]["attributes"]["sentry.message.template"] == "order {order_id} placed"
    assert logs[0]["trace_id"] == trace_id and logs[0]["environment"] == "test"
    # sentry-sdk's log items carry no tags: the service comes from the app's events.
    assert logs[0]["service"] == "shop"
    warning = api.get("/api/v1/logs", params={"q": "stock low"}).json()["items"]
    assert warning[0]["level"] == "warning"

    # Resolve, then the same bug again: the issue reopens as a regression.
    resolved = api.post(f"/api/v1/issues/{same_bug['id']}/resolve")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    run_app(tmp_path / "again", dsn, AGAIN, brotli=brotli)
    again = api.get(f"/api/v1/issues/{same_bug['id']}").json()
    assert again["status"] == "unresolved" and again["regression"] is True
    assert again["count"] == 3
    assert len(_issues(api)) == 6  # no new issue for the same bug

    # An unhandled exception kills the app; the SDK's excepthook still reports it.
    crashed = run_app(tmp_path / "crash", dsn, UNHANDLED, brotli=brotli, check=False)
    assert crashed.returncode != 0 and "LookupError" in crashed.stderr
    issues = _poll(lambda: _issues(api), lambda i: "LookupError: inventory has no B-2" in i)
    crash = api.get(f"/api/v1/issues/{issues['LookupError: inventory has no B-2']['id']}").json()
    event = crash["latest_event"]
    assert event["handled"] is False
    assert event["exception"][-1]["mechanism"]["type"] == "excepthook"
    assert crash["level"] == "fatal" or crash["level"] == "error"
    assert (api.get("/healthz")).status_code == 200


BURST = """
for n in range(8):
    sentry_sdk.capture_message(f"burst {n}")
sentry_sdk.flush(timeout=10)
"""


def test_sentry_sdk_backs_off_when_rate_limited(server_factory, tmp_path):
    server = server_factory(env={"LOOKOUT_RATE_LIMIT_PER_MINUTE": "3"})
    dsn = server.create_project("limited")
    api = httpx.Client(base_url=server.url,
                       headers={"Authorization": f"Bearer {server.create_token()}"})
    if time.time() % 60 > 50:  # keep the burst inside one rate-limit minute
        time.sleep(61 - time.time() % 60)
    run_app(tmp_path / "burst", dsn, BURST)
    (issue,) = _issues(api).values()
    assert issue["count"] == 3 and issue["grouping"]["inputs"] == {"message": "burst <num>"}
    metrics = api.get("/metrics").text
    refused = [line for line in metrics.splitlines()
               if line.startswith('lookout_ingest_requests_refused_total{status="429"}')]
    # The SDK read X-Sentry-Rate-Limits from the first 429 and stopped sending.
    assert refused == ['lookout_ingest_requests_refused_total{status="429"} 1.0']


def test_malformed_envelopes_against_the_real_server(server_factory):
    import gzip

    server = server_factory()
    dsn = server.create_project("hostile")
    key, project_id = dsn.split("//")[1].split("@")[0], dsn.rsplit("/", 1)[1]
    url = f"{server.url}/api/{project_id}/envelope/"
    auth = {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"}
    event = b'{"message":"fine"}'
    good = b'{}\n{"type":"event","length":%d}\n%s\n' % (len(event), event)
    cases = [
        (good[:-10], auth, 400),                                          # truncated
        (good.replace(b'"length":18', b'"length":9'), auth, 400),         # bad length
        (b'{}\n{"type":"event"}\n{"message":', auth, 400),               # bad JSON
        (good, {"X-Sentry-Auth": "Sentry sentry_key=" + "0" * 32}, 401),  # wrong key
        (gzip.compress(b"\n" * 60_000_000), {**auth, "Content-Encoding": "gzip"}, 413),  # bomb
    ]
    with httpx.Client(timeout=30) as client:
        for body, headers, status in cases:
            resp = client.post(url, content=body, headers=headers)
            assert resp.status_code == status, resp.text
            assert resp.json()["error"]
        assert client.get(f"{server.url}/readyz").status_code == 200
        assert client.post(url, content=good, headers=auth).status_code == 200


NO_TRACING_APP = """
sentry_sdk.set_tag("service", "fastapi-shop")
from fastapi import FastAPI
from fastapi.testclient import TestClient
app = FastAPI()

@app.get("/orders/{order_id}")
async def order(order_id: int):
    sentry_sdk.logger.warning("order {order_id} row is locked", order_id=order_id)
    raise RuntimeError(f"order {order_id} failed")

with TestClient(app, raise_server_exceptions=False) as client:
    for n in (1, 2):
        client.get(f"/orders/{n}", headers={"X-Request-ID": f"no-tracing-{n}"})
sentry_sdk.flush(timeout=10)
print("flushed", flush=True)
"""


def test_without_tracing_a_request_page_shows_only_that_request(server_factory, db_url,
                                                                 tmp_path):
    """sentry-sdk without tracing: each error carries the X-Request-ID header its request
    had, but every record of the process shares one propagation trace id (sentry-sdk 2.75
    starts no new trace per request without an incoming trace header). So a trace id with
    no spans does not identify a request: the request page shows that request's error and
    not the other request's (nor either log); the trace id finds them all."""
    server = server_factory(db_url=db_url)
    dsn = server.create_project("shop")
    api = httpx.Client(base_url=server.url,
                       headers={"Authorization": f"Bearer {server.create_token()}"})
    assert "flushed" in run_app(tmp_path / "app", dsn, NO_TRACING_APP).stdout
    traces = set()
    for n in (1, 2):
        items = api.get(f"/api/v1/requests/no-tracing-{n}").json()["items"]
        assert [(i["kind"], i["message"]) for i in items] == [
            ("error", f"RuntimeError: order {n} failed")], items
        traces.add(items[0]["trace_id"])
    (trace_id,) = traces  # one trace id for both requests
    whole = _poll(lambda: api.get(f"/api/v1/requests/{trace_id}").json()["items"],
                  lambda items: len(items) == 2)
    assert sorted(i["message"] for i in whole) == ["order 1 row is locked",
                                                   "order 2 row is locked"]
    assert {i["service"] for i in whole} == {"fastapi-shop"}
