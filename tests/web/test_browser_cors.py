"""A browser SDK on another site reports to Lookout: Chromium's own CORS checks.

The page is served from ``http://localhost:PORT`` and posts to
``http://127.0.0.1:PORT`` (another origin), with the headers that force a
preflight, exactly as the browser SDKs' fetch transport does. Chromium
refuses the request or hides the answer unless the preflight and the
answer carry the right CORS headers.
"""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

_POST = """async ([url, headers, body]) => {
  const resp = await fetch(url, {method: "POST", headers, body});
  return {status: resp.status, body: await resp.text(),
          limits: resp.headers.get("x-sentry-rate-limits"),
          retry: resp.headers.get("retry-after")};
}"""


def _issue_count(base: str, token: str) -> int:
    req = urllib.request.Request(f"{base}/api/v1/issues",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return sum(i["count"] for i in json.load(resp)["items"])


def test_a_page_on_another_origin_can_send_envelopes_and_legacy_events(page, server_factory):
    server = server_factory(env={"LOOKOUT_RATE_LIMIT_PER_MINUTE": "2"})
    dsn = urlsplit(server.create_project("web"))
    project_id, key = dsn.path.rsplit("/", 1)[1], dsn.username
    token = server.create_token()
    page.goto(f"http://localhost:{server.port}/healthz")  # the "site" origin
    auth = f"Sentry sentry_version=7, sentry_key={key}, sentry_client=sentry.javascript/9"
    event_id = "0123456789abcdef0123456789abcdef"
    envelope = (json.dumps({"event_id": event_id}) + "\n" + json.dumps({"type": "event"}) + "\n"
                + json.dumps({"event_id": event_id, "platform": "javascript",
                              "exception": {"values": [{"type": "TypeError",
                                                        "value": "x is undefined"}]}}) + "\n")
    sent = page.evaluate(_POST, [
        f"{server.url}/api/{project_id}/envelope/",
        {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": auth,
         "sentry-trace": "771a43a4192642f0b136d5159a501700-b2b1f6e9cb1b4f1d-1",
         "baggage": "sentry-environment=production"},
        envelope])
    assert sent["status"] == 200, sent
    assert json.loads(sent["body"]) == {"id": event_id}

    legacy = page.evaluate(_POST, [
        f"{server.url}/api/{project_id}/store/",
        {"Content-Type": "application/json", "X-Sentry-Auth": auth},
        json.dumps({"message": "from the legacy endpoint", "level": "warning"})])
    assert legacy["status"] == 200, legacy

    refused = page.evaluate(_POST, [  # an error answer is readable too
        f"{server.url}/api/{project_id}/envelope/",
        {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": "Sentry x=1"},
        envelope])
    assert refused["status"] == 401 and "sentry_key" in refused["body"], refused

    # Over the limit: the SDK must be able to read the rate-limit headers (exposed).
    limited = page.evaluate(_POST, [
        f"{server.url}/api/{project_id}/store/",
        {"Content-Type": "application/json", "X-Sentry-Auth": auth},
        json.dumps({"message": "one too many"})])
    assert limited["status"] == 429, limited
    assert limited["limits"] and limited["limits"].endswith(":error;default:project"), limited
    assert int(limited["retry"]) > 0

    deadline = time.monotonic() + 30
    while _issue_count(server.url, token) < 2:
        assert time.monotonic() < deadline, "the browser's events were not stored"
        time.sleep(0.1)
