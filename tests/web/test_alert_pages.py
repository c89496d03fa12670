"""Alert and rule pages through the real app: list, detail, acknowledge / resolve / silence
with CSRF (the same actions as Slack's buttons: the Slack message is updated too)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from lookout.services import Services
from lookout.settings import Settings
from rules import store
from rules.config import parse_rules
from rules.runtime import Alerting
from tests.rules.conftest import FakeClock, add_requests
from tests.support.slack_server import SlackServer
from tests.web.conftest import EMAIL, csrf_from

RULES = """
rules:
  - name: checkout-errors
    kind: error_rate
    window: 1m
    for: 2m
    thresholds: {warning: 0.02, critical: 0.05}
    runbook: https://wiki.example.com/checkout
  - name: quiet-<b>
    kind: absence
    window: 10m
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(db_url: str, slack: SlackServer) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret", slack_bot_token="xoxb-test",
                    slack_signing_secret="s", slack_channel="#alerts",
                    slack_api_url=slack.api_url, eval_interval=60,
                    base_url="http://lookout.test")


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Services:
    svc = Services.build(settings)
    svc.alerting = Alerting(settings, svc.engine, clock=clock)
    return svc


async def _tick(services: Services, clock: FakeClock, errors: int) -> None:
    assert services.alerting is not None and services.alerting.sender is not None
    clock.advance(60)
    await add_requests(services.engine, clock() - 30, "checkout", 100, errors)
    await services.alerting.run_tick()
    await services.alerting.sender.run_once()


async def _fire(services: Services, clock: FakeClock) -> int:
    assert services.alerting is not None
    services.alerting.ruleset.rules = parse_rules(RULES)
    for _ in range(3):
        await _tick(services, clock, errors=7)
    (alert,) = await store.list_alerts(services.engine, "firing", 10)
    return int(alert["id"])


async def test_rules_page_shows_state_and_value(ui, services, clock):
    empty = await ui.get("/rules")
    assert empty.status_code == 200 and "No rules loaded" in empty.text
    alert_id = await _fire(services, clock)
    page = await ui.get("/rules")
    assert "checkout-errors" in page.text and "rs-firing" in page.text
    assert "quiet-&lt;b&gt;" in page.text and "quiet-<b>" not in page.text
    assert "0.07" in page.text and f'href="/alerts/{alert_id}"' in page.text


async def test_acknowledge_from_the_ui_updates_slack(ui, services, clock, slack):
    alert_id = await _fire(services, clock)
    listing = await ui.get("/alerts")
    assert f'href="/alerts/{alert_id}"' in listing.text and "st-firing" in listing.text
    overview = await ui.get("/")
    assert "Open alerts" in overview.text and f'href="/alerts/{alert_id}"' in overview.text
    detail = await ui.get(f"/alerts/{alert_id}")
    assert "Acknowledge" in detail.text and "https://wiki.example.com/checkout" in detail.text
    forged = await ui.post(f"/alerts/{alert_id}/ack", data={})
    assert forged.status_code == 403
    posted = len(slack.by_method("chat.update"))
    done = await ui.post(f"/alerts/{alert_id}/ack", data={"_csrf": csrf_from(detail.text)})
    assert done.status_code == 303
    page = await ui.get(done.headers["location"])
    assert "Acknowledged." in page.text and "st-acknowledged" in page.text
    assert f"{EMAIL} ·" in page.text  # who acknowledged, and when
    assert "firing → firing" in page.text and f"by {EMAIL}" in page.text  # history
    assert ">Acknowledge<" not in page.text
    await services.alerting.sender.run_once()
    assert len(slack.by_method("chat.update")) > posted
    assert EMAIL in str(slack.by_method("chat.update")[-1].params)
    acked = await ui.get("/alerts?show=acknowledged")
    assert f'href="/alerts/{alert_id}"' in acked.text
    assert f'href="/alerts/{alert_id}"' not in (await ui.get("/alerts")).text


async def test_silence_then_resolve(ui, services, clock):
    alert_id = await _fire(services, clock)
    detail = await ui.get(f"/alerts/{alert_id}")
    token = csrf_from(detail.text)
    silenced = await ui.post(f"/alerts/{alert_id}/silence", data={"_csrf": token})
    page = await ui.get(silenced.headers["location"])
    assert "Silenced for an hour." in page.text and "st-silenced" in page.text
    assert f'href="/alerts/{alert_id}"' in (await ui.get("/alerts?show=silenced")).text
    resolved = await ui.post(f"/alerts/{alert_id}/resolve", data={"_csrf": token})
    page = await ui.get(resolved.headers["location"])
    assert "Resolved." in page.text and "st-resolved" in page.text
    assert not re.search(r'action="/alerts/\d+/', page.text)  # no buttons on a closed alert
    assert (await ui.get("/alerts/99999")).status_code == 404
    assert (await ui.get("/alerts?show=bogus")).status_code == 400
    bad = await ui.post(f"/alerts/{alert_id}/explode", data={"_csrf": token})
    assert bad.status_code == 404


async def test_rules_page_shows_only_the_thresholds_a_rule_has(ui, services):
    assert services.alerting is not None
    services.alerting.ruleset.rules = parse_rules("""
rules:
  - name: slow-warning
    kind: error_rate
    thresholds: {warning: 0.02, resolve: 0.01}
""")
    page = await ui.get("/rules")
    assert page.status_code == 200
    assert "warning 0.02 · resolve 0.01" in page.text.replace("\n", " ")
    assert "None" not in page.text


async def test_an_assignee_from_slack_shows_on_the_alert_pages_escaped(ui, services, clock):
    alert_id = await _fire(services, clock)
    outcome = await services.alerting.actions.assign(alert_id, "@alice", clock(), "U0BOB",
                                                     "@<b>bob</b>")
    assert outcome.result == "assigned"
    detail = (await ui.get(f"/alerts/{alert_id}")).text
    assert "assigned to</span>@&lt;b&gt;bob&lt;/b&gt;" in detail
    assert "<b>bob</b>" not in detail
    listing = (await ui.get("/alerts")).text
    assert "assigned to @&lt;b&gt;bob&lt;/b&gt;" in listing
