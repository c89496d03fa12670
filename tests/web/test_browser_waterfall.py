"""The request page's span waterfall in Chromium, for data sent by real clients.

A gateway and an inventory service traced with the OpenTelemetry Python SDK
(``opentelemetry-exporter-otlp-proto-http``, the trace context propagated
between them) and a Flask app traced by ``sentry-sdk``
(``traces_sample_rate=1.0``) report to a real ``lookout serve``; so do a
FastAPI app under sentry-sdk, the Node OpenTelemetry SDK and ``@sentry/node``
(both from npm, tests/js). A person
pastes the trace id (or the request id) into the search box and reads one
page: the spans of both services as a tree on one time axis, their log lines
and errors on the spans, links from there to the records and the issue,
subtrees that collapse. Screenshots at 1366 and 390 px: test-output/screenshots/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.otel_app import run_two_services
from tests.support.sentry_app import run_app
from tests.web.conftest import EMAIL, PASSWORD, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FASTAPI_APP = """
sentry_sdk.set_tag("service", "fastapi-shop")
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
app = FastAPI()

@app.get("/orders/{order_id}")
async def order(order_id: int):
    with sentry_sdk.start_span(op="db.query", name="SELECT * FROM orders"):
        sentry_sdk.logger.warning("order {order_id} row is locked", order_id=order_id)
    if order_id % 2:
        raise RuntimeError(f"order {order_id} failed")
    return {"ok": True}

with TestClient(app, raise_server_exceptions=False) as client:
    client.get("/orders/3", headers={"X-Request-ID": "fastapi-req-3"})
sentry_sdk.flush(timeout=10)
print("flushed", flush=True)
"""

FLASK_APP = """
import logging
sentry_sdk.set_tag("service", "flask-shop")
from flask import Flask
app = Flask(__name__)

@app.route("/orders/<int:order_id>")
def order(order_id):
    with sentry_sdk.start_span(op="db.query", name="SELECT * FROM orders WHERE id = %s"):
        sentry_sdk.logger.warning("order {order_id} row is locked", order_id=order_id)
    raise RuntimeError(f"order {order_id} failed")

client = app.test_client()
client.get("/orders/7", headers={"X-Request-ID": "flask-req-7"})
sentry_sdk.flush(timeout=10)
print("flushed", flush=True)
"""


@pytest.fixture
def live(server_factory):
    server = server_factory()
    out = server.cli("user", "create", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    return server


def _login(page, url: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _no_sideways_scroll(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways at {width}px ({scroll}px)"


def test_otel_waterfall_across_two_services(page, live, tmp_path):
    key = urlsplit(live.create_project("otel")).username or ""
    trace_id = run_two_services(tmp_path / "otel", live.url, key, fragments=3)

    page.set_viewport_size({"width": 1366, "height": 900})
    _login(page, live.url)
    page.fill("header input[name=q]", trace_id)  # a trace id finds its request
    page.press("header input[name=q]", "Enter")
    page.wait_for_url(f"**/requests/{trace_id}")
    # The request is the trace's entry point: the gateway's, not the inventory's.
    assert page.locator(".reqline").inner_text().split()[:3] == ["POST", "/checkout", "502"]
    rows = page.locator(".wf .wf-row")
    names = [n.strip() for n in page.locator(".wf .wf-title").all_inner_texts()]
    assert names == ["POST /checkout", "POST inventory /reserve", "POST /reserve",
                     "SELECT stock", "render fragment 0", "render fragment 1",
                     "render fragment 2"]
    assert rows.count() == 7
    assert page.locator(".waterfall .lanes .lane").all_inner_texts() == ["gateway", "inventory"]

    # Bars to scale: each child's bar lies within its parent's, on one axis.
    def box(name: str):
        row = page.locator(".wf-row", has=page.locator(".wf-title", has_text=name)).first
        return row.locator("rect.bar").bounding_box()
    root, call, server, query = (box(n) for n in ("POST /checkout", "POST inventory /reserve",
                                                   "POST /reserve", "SELECT stock"))
    for parent, child in ((root, call), (call, server), (server, query)):
        assert parent["x"] - 1 <= child["x"]
        assert child["x"] + child["width"] <= parent["x"] + parent["width"] + 1
    assert root["width"] > 300  # the root spans (nearly) the whole axis

    # The logs and the error on their spans; the error links to its issue.
    server_node = page.locator(".wf-node:has(> details > summary .wf-title:text-is('POST /reserve'))")
    error = server_node.locator(".wf-items li.kind-error").first
    assert "LookupError: sku 12 is gone" in error.inner_text()
    query_node = page.locator(".wf-node.leaf", has=page.locator(".wf-title", has_text="SELECT stock"))
    assert "stock query slow <b>not bold</b>" in query_node.locator(".wf-items").inner_text()
    assert page.locator(".wf-items b").count() == 0  # escaped, not bold
    assert page.locator(".wf rect.mark").count() == 4  # 3 logs + 1 error on the time axis
    screenshot(page, "waterfall-otel-1366")

    # From the log line on the span to its full record, and back to the span.
    query_node.locator(".wf-items a.msg").click()
    record = page.locator(".timeline .entry:target")
    assert "stock query slow" in record.inner_text()
    record.locator("a", has_text="on span SELECT stock").click()
    assert page.locator(".wf-node:target .wf-title").inner_text() == "SELECT stock"

    # Collapse the gateway's client call: its subtree (the inventory's spans) hides.
    call_summary = page.locator("summary", has=page.locator(".wf-title",
                                                              has_text="POST inventory /reserve"))
    call_summary.locator(".caret").click()
    assert not page.locator(".wf-title", has_text="SELECT stock").is_visible()
    call_summary.locator(".caret").click()
    assert page.locator(".wf-title", has_text="SELECT stock").is_visible()

    error.locator("a.tag", has_text="issue #").click()
    page.wait_for_url("**/issues/*")
    assert "LookupError" in page.locator("h1").inner_text()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}/requests/checkout-42")  # the gateway's request id: the same page
    assert page.locator(".wf .wf-row").count() == 7
    screenshot(page, "waterfall-otel-390")
    _no_sideways_scroll(page, 390)


def test_sentry_sdk_flask_waterfall(page, live, tmp_path):
    dsn = live.create_project("flask")
    out = run_app(tmp_path / "flask", dsn, FLASK_APP, options={"traces_sample_rate": 1.0})
    assert "flushed" in out.stdout, out.stdout + out.stderr

    page.set_viewport_size({"width": 1366, "height": 900})
    _login(page, live.url)
    page.fill("header input[name=q]", "flask-req-7")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url("**/requests/flask-req-7")
    names = [n.strip() for n in page.locator(".wf .wf-title").all_inner_texts()]
    assert names == ["order", "SELECT * FROM orders WHERE id = %s"]
    assert page.locator(".reqline").inner_text().split()[:3] == ["GET", "order", "500"]
    root = page.locator(".wf-node:has(> details > summary .wf-title:text-is('order'))")
    assert "RuntimeError: order 7 failed" in root.locator(
        ":scope > details > .wf-items li.kind-error").inner_text()
    db = page.locator(".wf-node.leaf")
    assert "order 7 row is locked" in db.locator(".wf-items").inner_text()
    screenshot(page, "waterfall-sentry-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "waterfall-sentry-390")
    _no_sideways_scroll(page, 390)


def _node(script: str, *args: str) -> str:
    js = Path(__file__).resolve().parent.parent / "js"
    node = shutil.which("node")
    if node is None or not (js / "node_modules").is_dir():
        pytest.skip("needs node and the npm packages of tests/js (npm ci --prefix tests/js)")
    result = subprocess.run([node, str(js / script), *args], cwd=js, capture_output=True,
                            text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_opentelemetry_js_waterfall(page, live, tmp_path):
    """The Node OpenTelemetry SDK (npm): a SERVER span with its DB call, a log line and
    an exception event, shown on one page."""
    key = urlsplit(live.create_project("node-otel")).username or ""
    out = _node("otel_app.mjs", f"{live.url}/v1", key, "2")
    trace_ids = json.loads(next(line for line in out.splitlines()
                                if line.startswith("TRACES "))[len("TRACES "):])

    page.set_viewport_size({"width": 1366, "height": 900})
    _login(page, live.url)
    page.goto(f"{live.url}/requests/{trace_ids[1]}")  # the second order failed
    names = [n.strip() for n in page.locator(".wf .wf-title").all_inner_texts()]
    assert names == ["GET /orders/:id", "SELECT orders"]
    assert page.locator(".reqline").inner_text().split()[:3] == ["GET", "/orders/:id", "500"]
    items = page.locator(".wf-items").all_inner_texts()
    assert any("TypeError: order 1 is broken" in text for text in items), items
    assert any("order 1 looked up" in text for text in items), items
    screenshot(page, "waterfall-node-otel-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _no_sideways_scroll(page, 390)


def _one_request_page(page, url: str, request_id: str, shot: str) -> list[str]:
    """Open a request's page as a person would; the waterfall's span names."""
    page.set_viewport_size({"width": 1366, "height": 900})
    _login(page, url)
    page.fill("header input[name=q]", request_id)
    page.press("header input[name=q]", "Enter")
    page.wait_for_url(f"**/requests/{request_id}")
    names = [n.strip() for n in page.locator(".wf .wf-title").all_inner_texts()]
    screenshot(page, f"{shot}-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _no_sideways_scroll(page, 390)
    page.set_viewport_size({"width": 1366, "height": 900})
    return names


def test_sentry_sdk_fastapi_waterfall(page, live, tmp_path):
    dsn = live.create_project("fastapi")
    out = run_app(tmp_path / "fastapi", dsn, FASTAPI_APP, options={"traces_sample_rate": 1.0})
    assert "flushed" in out.stdout, out.stdout + out.stderr
    names = _one_request_page(page, live.url, "fastapi-req-3", "waterfall-fastapi")
    assert names[0] == "/orders/{order_id}" and "SELECT * FROM orders" in names
    assert page.locator(".reqline").inner_text().split()[:3] == ["GET", "/orders/{order_id}",
                                                                 "500"]
    items = page.locator(".wf-items").all_inner_texts()
    assert any("RuntimeError: order 3 failed" in text for text in items), items
    assert any("order 3 row is locked" in text for text in items), items


def test_sentry_node_waterfall(page, live, tmp_path):
    """@sentry/node (npm) with tracing: its request, DB span, log line and error."""
    _node("sentry_app.mjs", live.create_project("node"), "2", "records")
    names = _one_request_page(page, live.url, "node-1", "waterfall-sentry-node")
    # The script's two fetches share one trace: the page shows node-1's part of it (the
    # fetch that called it, its server span, its DB span), not its sibling node-0.
    assert names == ["GET 127.0.0.1", "GET", "SELECT orders"], names
    assert page.locator(".reqline").inner_text().split()[2] == "500"
    items = page.locator(".wf-items").all_inner_texts()
    assert any("TypeError: order 1 is broken" in text for text in items), items
    assert any("order 1 looked up" in text for text in items), items
    assert "order 0 looked up" not in page.locator("main").inner_text()
