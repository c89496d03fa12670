"""The silences page through the real app: list, create (validated like the API), expire
early, CSRF on both forms, and the effect on alerts (both databases)."""

from __future__ import annotations

import re

import pytest

from lookout.services import Services
from lookout.settings import Settings
from rules import store
from rules.config import parse_rules
from rules.runtime import Alerting
from tests.rules.conftest import FakeClock, add_requests
from tests.web.conftest import EMAIL, csrf_from

RULES = """
rules:
  - name: checkout-errors
    kind: error_rate
    window: 1m
    for: 2m
    thresholds: {warning: 0.02, critical: 0.05}
  - name: quiet
    kind: absence
    window: 10m
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Services:
    svc = Services.build(settings)
    svc.alerting = Alerting(settings, svc.engine, clock=clock)
    svc.alerting.ruleset.rules = parse_rules(RULES)
    return svc


async def _fire(services: Services, clock: FakeClock) -> int:
    assert services.alerting is not None
    for _ in range(3):
        clock.advance(60)
        await add_requests(services.engine, clock() - 30, "checkout", 100, 7)
        await services.alerting.run_tick()
    (alert,) = await store.list_alerts(services.engine, "firing", 10)
    return int(alert["id"])


def _section(html: str, title: str) -> str:
    """The page between ``<h2>title</h2>`` and the next heading."""
    return html.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


async def test_create_list_and_expire_a_silence(ui, services, clock):
    empty = await ui.get("/silences")
    assert empty.status_code == 200
    assert "No silences in effect" in empty.text
    assert '<option value="checkout-errors" >checkout-errors</option>' in empty.text
    assert 'href="/silences" aria-current="page"' in empty.text  # in the nav
    token = csrf_from(empty.text)

    forged = await ui.post("/silences", data={"rule": "checkout-errors", "duration": "1h"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    created = await ui.post("/silences", data={
        "_csrf": token, "rule": "checkout-errors", "labels": "service=checkout",
        "duration": "30m", "comment": "deploy <b>v2</b>"})
    assert created.status_code == 303 and created.headers["location"] == "/silences?done=created"

    (silence,) = await store.list_silences(services.engine, clock())
    assert silence["matchers"] == {"rule": "checkout-errors", "service": "checkout"}
    assert silence["created_by"] == EMAIL and silence["comment"] == "deploy <b>v2</b>"
    assert silence["starts_at"] == clock() and silence["ends_at"] == clock() + 1800
    page = (await ui.get("/silences?done=created")).text
    assert "Silence created." in page
    current = _section(page, "Active and upcoming")
    assert "rule=checkout-errors" in current and "service=checkout" in current
    assert f"by {EMAIL}" in current and "st-active" in current
    assert "deploy &lt;b&gt;v2&lt;/b&gt;" in current and "<b>v2</b>" not in page
    assert f'action="/silences/{silence["id"]}/expire"' in current

    forged = await ui.post(f"/silences/{silence['id']}/expire", data={})
    assert forged.status_code == 403
    clock.advance(60)
    expired = await ui.post(f"/silences/{silence['id']}/expire", data={"_csrf": token})
    assert expired.status_code == 303 and expired.headers["location"] == "/silences?done=expired"
    assert await store.list_silences(services.engine, clock()) == []
    page = (await ui.get("/silences")).text
    assert "No silences in effect" in page
    ended = _section(page, "Expired")
    assert "rule=checkout-errors" in ended and "st-expired" in ended and "/expire" not in ended
    again = await ui.post(f"/silences/{silence['id']}/expire", data={"_csrf": token})
    assert "already ended" in (await ui.get(again.headers["location"])).text
    missing = await ui.post("/silences/99999/expire", data={"_csrf": token})
    assert missing.status_code == 404 and "no silence 99999" in missing.text


@pytest.mark.parametrize(("form", "message"), [
    ({"rule": "", "labels": "", "duration": "1h"}, "Choose a rule or give at least one"),
    ({"labels": "checkout", "duration": "1h"}, "&#39;checkout&#39; is not label=value"),
    ({"rule": "quiet", "duration": "soon"}, "is not a duration"),
    ({"rule": "quiet", "duration": "100d"}, "at most 90 days"),
    ({"rule": "quiet", "duration": "1h", "comment": "x" * 1001}, "comment: at most 1000"),
])
async def test_bad_silences_are_refused_and_the_form_kept(ui, services, form, message):
    token = csrf_from((await ui.get("/silences")).text)
    resp = await ui.post("/silences", data={"_csrf": token, **form})
    assert resp.status_code == 400
    assert message in resp.text
    if form.get("labels"):
        assert f'value="{form["labels"]}"' in resp.text
    assert await store.list_silences(services.engine, 0) == []


async def test_silence_from_the_page_mutes_the_alert(ui, services, clock):
    alert_id = await _fire(services, clock)
    alerts = (await ui.get("/alerts")).text
    assert 'href="/silences"' in alerts
    detail = (await ui.get(f"/alerts/{alert_id}")).text
    link = re.search(r'class="silence-link" href="([^"]+)"', detail)
    assert link, detail
    prefilled = (await ui.get(link.group(1).replace("&amp;", "&"))).text
    assert '<option value="checkout-errors" selected>' in prefilled
    assert 'value="environment=production, service=checkout"' in prefilled
    resp = await ui.post("/silences", data={
        "_csrf": csrf_from(prefilled), "rule": "checkout-errors",
        "labels": "environment=production, service=checkout", "duration": "2h"})
    assert resp.status_code == 303
    silenced = (await ui.get("/alerts?show=silenced")).text
    assert f'href="/alerts/{alert_id}"' in silenced


async def test_pages_need_login(client, services):
    resp = await client.get("/silences")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
