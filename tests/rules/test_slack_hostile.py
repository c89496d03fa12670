"""Hostile input on the Slack paths, end to end: ``lookout serve``, the Slack mimic, real ingest.

- ingested text (a service named like a Slack link, an exception type ``<!channel>``)
  reaches no Slack field unescaped;
- a click's ``response_url`` is answered only on the allowed origin, and a redirect
  from there is not followed;
- headers and bodies Slack never sends, and signed payloads the database could
  not store, are 4xx (never a 500 or a traceback);
- a replayed signed click is not applied again after a restart, nor by a second
  instance on the same PostgreSQL.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from rules.notify.slack_message import ACK, SILENCE
from tests.rules.conftest import SIGNING_SECRET, click_body, signed
from tests.support.http_recorder import HttpRecorder
from tests.support.server import LookoutServer
from tests.support.slack_server import SlackServer

pytestmark = pytest.mark.e2e

RULES = """
rules:
  - name: errors-by-service
    kind: error_rate
    window: 1m
    for: 0s
    thresholds: {critical: 0.05}
  - name: new-issues
    kind: new_issue
    window: 5m
"""
EVIL_SERVICE = "<https://evil.example|Reset your SSO password>"
EVIL_ENV = "<!here>"
EVIL_TYPE = "<!channel>"
EVIL_VALUE = "<https://evil.example/login|click here> & <!everyone>"
# What must never appear in anything Lookout sends to Slack (its own links and
# <!date^...> stamps are fine: they are not ingested).
FORBIDDEN = ("<https://evil", "<!here", "<!channel", "<!everyone", "<!subteam")


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


def start(server_factory: Any, tmp_path: Path, db_url: str, slack: SlackServer,
          origins: str | None = None) -> LookoutServer:
    tmp_path.mkdir(parents=True, exist_ok=True)
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    return server_factory(db_url=db_url, workdir=tmp_path, env={
        "LOOKOUT_RULES_FILE": str(rules), "LOOKOUT_EVAL_INTERVAL": "1",
        "LOOKOUT_SLACK_BOT_TOKEN": "xoxb-test", "LOOKOUT_SLACK_API_URL": slack.api_url,
        "LOOKOUT_SLACK_CHANNEL": "#ops", "LOOKOUT_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "LOOKOUT_SLACK_RESPONSE_URL_ORIGINS": origins or slack.url})


def ingest_failures(server: LookoutServer, service: str = "checkout",
                    environment: str = "production", with_error: bool = False) -> None:
    dsn = urlsplit(server.create_project())
    now = time.time()
    body: dict[str, Any] = {
        "resource": {"service": service, "environment": environment},
        "requests": [{"request_id": f"r{i}", "method": "GET", "route": "/pay",
                      "status": 500 if i % 2 else 200, "duration_ms": 5, "ts": now}
                     for i in range(40)]}
    if with_error:
        body["errors"] = [{"message": "boom", "ts": now,
                           "exception": [{"type": EVIL_TYPE, "value": EVIL_VALUE}]}]
    resp = httpx.post(f"{server.url}/api{dsn.path}/ingest",
                      headers={"X-Lookout-Key": dsn.username or ""}, json=body)
    assert resp.status_code == 202, resp.text
    assert '"rejected":[]' in resp.text.replace(" ", ""), resp.text


def first_alert_id(slack: SlackServer) -> int:
    wait_until(lambda: slack.posts(), what="first Slack post")
    return int(slack.posts()[0].params["blocks"][-1]["elements"][0]["value"])


def click(server: LookoutServer, body: bytes, ts: float | None = None) -> httpx.Response:
    return httpx.post(server.url + "/slack/interactions", content=body,
                      headers=signed(body, time.time() if ts is None else ts))


def silences(server: LookoutServer, token: str) -> list[dict[str, Any]]:
    resp = httpx.get(server.url + "/api/v1/silences?expired=1",
                     headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def payload_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_ingested_text_is_escaped_in_every_slack_field(server_factory, tmp_path: Path,
                                                       db_url: str) -> None:
    slack = SlackServer().start()
    try:
        server = start(server_factory, tmp_path, db_url, slack)
        token = server.create_token()
        ingest_failures(server, EVIL_SERVICE, EVIL_ENV, with_error=True)
        wait_until(lambda: len(slack.posts()) >= 2, what="the error-rate and new-issue posts")
        texts = [p.params["text"] for p in slack.posts()]
        assert any("&lt;https://evil.example|Reset your SSO password&gt;" in t for t in texts)
        assert any("&lt;!channel&gt;" in t for t in texts), texts
        # Acting on the alerts sends updates and thread replies: names are escaped too.
        for post in slack.posts():
            alert_id = int(post.params["blocks"][-1]["elements"][0]["value"])
            resp = httpx.post(f"{server.url}/api/v1/alerts/{alert_id}/ack",
                              headers={"Authorization": f"Bearer {token}"},
                              json={"by": "<!subteam^S1|ops>"})
            assert resp.status_code == 200, resp.text
        wait_until(lambda: len(slack.replies()) >= 2 and len(slack.by_method("chat.update")) >= 2,
                   what="acknowledgement replies and updates")
        sent = json.dumps([c.params for c in slack.calls], ensure_ascii=False)
        leaked = [f for f in FORBIDDEN if f in sent]
        assert leaked == [], f"unescaped in Slack calls: {leaked}"
    finally:
        slack.stop()


def test_response_url_only_on_the_allowed_origin_and_no_redirects(
        server_factory, tmp_path: Path, db_url: str) -> None:
    slack = SlackServer().start()
    internal = HttpRecorder().start()  # e.g. an admin port on loopback
    hooks = HttpRecorder(status=307).start()  # the allowed origin, answering a redirect
    hooks.location = internal.url + "/redirected"
    try:
        server = start(server_factory, tmp_path, db_url, slack, origins=hooks.url)
        ingest_failures(server)
        alert_id = first_alert_id(slack)
        assert click(server, click_body(ACK, alert_id)).status_code == 200
        # Already acknowledged: the note would go to response_url.
        for n, url in enumerate((internal.url + "/hook", "file:///etc/passwd",
                                 f"{hooks.url}@127.0.0.1:{urlsplit(internal.url).port}/x")):
            body = click_body(ACK, alert_id, f"bob{n}", response_url=url)
            assert click(server, body).status_code == 200
        wait_until(lambda: server.log().count("ignored response_url outside the allowed "
                                              "origins") == 3, what="three refusals logged")
        body = click_body(ACK, alert_id, "carol", response_url=hooks.url + "/actions/T1/1/x")
        assert click(server, body).status_code == 200
        wait_until(lambda: '"response_url refused the note","status":307' in server.log(),
                   what="the redirect answered and not followed")
        assert [r.path for r in hooks.seen()] == ["/actions/T1/1/x"]
        note = json.loads(hooks.seen()[0].body)
        assert note["response_type"] == "ephemeral" and "already acknowledged" in note["text"]
        assert internal.seen() == []
    finally:
        for stub in (slack, internal, hooks):
            stub.stop()


def test_odd_headers_bodies_and_payloads_are_4xx(server_factory, tmp_path: Path,
                                                 db_url: str) -> None:
    slack = SlackServer().start()
    try:
        server = start(server_factory, tmp_path, db_url, slack)
        token = server.create_token()
        ingest_failures(server)
        alert_id = first_alert_id(slack)
        body = click_body(ACK, alert_id)
        answers = []
        good = signed(body, time.time())
        for stamp in ("abc", "1e9", "1700000000.5", "-1", "9" * 30, ""):
            headers = {**good, "X-Slack-Request-Timestamp": stamp}
            answers.append(httpx.post(server.url + "/slack/interactions", content=body,
                                      headers=headers))
        for raw in (b"\xff\xfepayload=%7B%7D", b"payload=\xc3(" + body):
            answers.append(httpx.post(server.url + "/slack/interactions", content=raw,
                                      headers=signed(raw, time.time())))
        # Validly signed, but nothing the database could hold.
        base = {"type": "block_actions", "user": {"id": "U1", "username": "alice"},
                "actions": [{"action_id": ACK, "value": str(alert_id)}]}
        hostile = [
            {**base, "actions": [{"action_id": ACK, "value": "9" * 30}]},
            {**base, "actions": [{"action_id": ACK, "value": "9" * 5000}]},
            {**base, "actions": [{"action_id": SILENCE, "value": "-5"}]},
            {**base, "user": {"id": "U1", "username": "\ud800mallory"}},
            {**base, "user": {"id": "U1", "username": "mal\x00lory"}},
        ]
        for n, payload in enumerate(hostile):
            answers.append(click(server, payload_body(payload), time.time() - n))
        nested = b"payload=" + b"%5B" * 100_000
        answers.append(click(server, nested))
        for resp in answers:
            assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:200])
            assert resp.json()["error"] and "Traceback" not in resp.text
        assert "Traceback" not in server.log()
        alert = httpx.get(f"{server.url}/api/v1/alerts/{alert_id}",
                          headers={"Authorization": f"Bearer {token}"}).json()
        assert alert["acknowledged_by"] is None and silences(server, token) == []
        assert httpx.get(server.url + "/healthz").status_code == 200
    finally:
        slack.stop()


def test_replayed_click_is_not_applied_after_a_restart(server_factory, tmp_path: Path,
                                                       db_url: str) -> None:
    slack = SlackServer().start()
    try:
        server = start(server_factory, tmp_path, db_url, slack)
        token = server.create_token()
        ingest_failures(server)
        alert_id = first_alert_id(slack)
        body = click_body(SILENCE, alert_id)
        headers = signed(body, time.time())

        def send(to: LookoutServer) -> httpx.Response:
            return httpx.post(to.url + "/slack/interactions", content=body, headers=headers)

        assert send(server).status_code == 200
        assert len(silences(server, token)) == 1
        server.stop()
        again = start(server_factory, tmp_path, db_url, slack)
        assert send(again).status_code == 200  # answered, as Slack expects, but not applied
        assert len(silences(again, token)) == 1
        fresh = click(again, body, time.time() + 1)  # a new click is a new request
        assert fresh.status_code == 200
        assert len(silences(again, token)) == 2
    finally:
        slack.stop()


def test_two_instances_apply_one_replayed_click_once(server_factory, tmp_path: Path,
                                                     db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("several instances share one PostgreSQL")
    slack = SlackServer().start()
    try:
        first = start(server_factory, tmp_path / "a", db_url, slack)
        second = start(server_factory, tmp_path / "b", db_url, slack)
        token = first.create_token()
        ingest_failures(first)
        alert_id = first_alert_id(slack)
        body = click_body(SILENCE, alert_id)
        headers = signed(body, time.time())
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda s: httpx.post(s.url + "/slack/interactions", content=body,
                                     headers=headers).status_code,
                [first, second] * 4))
        assert answers == [200] * 8
        assert len(silences(first, token)) == 1
        assert len(silences(second, token)) == 1
    finally:
        slack.stop()
