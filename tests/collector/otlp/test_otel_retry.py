"""The real OpenTelemetry Python exporter retries after a 503, and nothing is stored twice.

A front between the app and ``lookout serve`` passes every request on, but the
answer to the first trace export — already committed by Lookout — is replaced
by ``503`` + ``Retry-After``, as a proxy or a lost answer would. The exporter
retries the same export (it treats 503 as retryable); the retry finds the
export's batch id taken and stores nothing again.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.otel_app import run_otel_app
from tests.support.retry_front import RetryFront

pytestmark = pytest.mark.e2e


def test_exporter_retry_after_503_stores_nothing_twice(server_factory, db_url, tmp_path):
    server = server_factory(db_url=db_url)
    key = urlsplit(server.create_project("otel-retry")).username or ""
    api = httpx.Client(base_url=server.url,
                       headers={"Authorization": f"Bearer {server.create_token()}"})
    front = RetryFront(server.url)
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    try:
        trace_ids = run_otel_app(tmp_path / "app", f"http://127.0.0.1:{front.server_port}/v1",
                                 {"Authorization": f"Bearer {key}"}, requests=4)
    finally:
        front.shutdown()
    assert front.replaced == 1 and front.trace_posts >= 2  # answered 503 once, then retried
    deadline = time.monotonic() + 20
    for trace_id in trace_ids:
        while True:
            items = api.get(f"/api/v1/requests/{trace_id}").json()["items"]
            requests = [i for i in items if i["kind"] == "request"]
            if requests or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(requests) == 1, items  # the retried export's request record, once
    spans = api.get(f"/api/v1/requests/{trace_ids[0]}").json()["waterfall"]["spans"]
    assert len({s["span_id"] for s in spans}) == len(spans)  # no span stored twice
