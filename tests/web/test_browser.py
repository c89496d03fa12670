"""End to end in Chromium against a real ``lookout serve``: log in, find a request,
search and page, hostile text, CSRF, redirects. Screenshots: test-output/screenshots/."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import EMAIL, PASSWORD, post_json, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

RID = "4be3c1d0-9f6e-4a57-8d2b-1c0ffee0beef"
EVIL = '<script>alert("xss")</script> "><img src=x onerror=alert(1)>'


@dataclass
class Live:
    url: str
    project_id: str
    key: str

    def ingest(self, body: dict) -> None:
        status = post_json(f"{self.url}/api/{self.project_id}/ingest", body,
                           {"X-Lookout-Key": self.key})
        assert status == 202


@pytest.fixture
def live(server_factory) -> Live:
    server = server_factory()
    server.create_user(EMAIL, PASSWORD)
    dsn = urlsplit(server.create_project("shop"))
    return Live(server.url, dsn.path.rsplit("/", 1)[1], dsn.username or "")


def _seed(live: Live) -> None:
    now = time.time()
    live.ingest({
        "requests": [{"request_id": RID, "method": "POST", "route": "/orders", "status": 500,
                      "duration_ms": 231.5, "service": "gateway", "ts": now - 30}] + [
            {"request_id": f"bg-{i}", "method": "GET", "route": "/health", "status": 200,
             "duration_ms": 3 + i % 7, "service": "gateway" if i % 3 else "checkout",
             "ts": now - 900 + i * 8} for i in range(100)],
        "logs": [
            {"message": "order received", "service": "gateway", "request_id": RID,
             "ts": now - 29.9, "attributes": {"order_id": 1042, "customer": "c-77"}},
            {"message": "reserving stock", "service": "inventory", "request_id": RID,
             "ts": now - 29.8},
            {"message": "stock service slow", "level": "warning", "service": "inventory",
             "request_id": RID, "ts": now - 29.7, "logger": "inventory.db"},
            {"message": EVIL, "service": "gateway", "request_id": RID, "ts": now - 29.65},
        ] + [{"message": f"sync batch {i} done", "service": "worker",
              "level": "error" if i % 4 == 0 else "info", "ts": now - 1200 + i * 10,
              "attributes": {"batch": i}} for i in range(110)],
        "errors": [{"message": "OutOfStock: sku 12", "service": "inventory", "request_id": RID,
                    "ts": now - 29.6, "exception": [{"type": "OutOfStock", "value": "sku 12",
                                                     "frames": [{"filename": "stock.py",
                                                                 "function": "reserve",
                                                                 "lineno": 88, "in_app": True,
                                                                 "context_line": "raise OutOfStock(sku)"}]}]}],
    })


def _login(page, live: Live, target: str = "/") -> None:
    page.goto(live.url + target)
    assert "/login" in page.url
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_login_paste_request_id_and_read_the_timeline(page, live):
    _seed(live)
    page.goto(live.url + "/login")
    screenshot(page, "login")
    _login(page, live)
    assert urlsplit(page.url).path == "/"
    assert page.locator(".svc h2").first.inner_text() in {"gateway", "checkout"}
    screenshot(page, "overview")
    page.fill("header input[name=q]", RID)
    page.press("header input[name=q]", "Enter")
    page.wait_for_url(f"**/requests/{RID}")
    entries = page.locator(".timeline .entry")
    assert entries.count() == 6
    services = [s.strip() for s in page.locator(".timeline .entry .service").all_inner_texts()]
    assert services == ["gateway", "gateway", "inventory", "inventory", "gateway", "inventory"]
    whats = page.locator(".timeline .entry .what").all_inner_texts()
    assert "POST" in whats[0] and "/orders" in whats[0]
    assert "order received" in whats[1] and "OutOfStock" in whats[5]
    page.locator(".entry.kind-error details.stack summary").click()
    assert page.locator(".frames li.inapp").first.is_visible()
    page.locator(".entry.kind-log details.attrs summary").first.click()
    assert page.locator("dd", has_text="c-77").is_visible()
    # Times are shown in the viewer's zone (Europe/Berlin here), UTC stays on hover.
    first_time = page.locator(".timeline time").first
    page.wait_for_function("document.querySelector('.timeline time').classList.contains('local')")
    assert "UTC" not in first_time.inner_text()
    assert first_time.get_attribute("title").endswith("UTC")
    screenshot(page, "request")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "request-phone", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_search_with_filters_and_paginate(page, live):
    _seed(live)
    _login(page, live, "/search")
    assert urlsplit(page.url).path == "/search"
    page.fill(".searchbar input[name=q]", "sync service:worker")
    page.click(".range button[value='1h']")
    page.wait_for_load_state()
    assert "110 matching log lines" in page.locator(".count").inner_text()
    assert page.locator("svg.histogram rect").count() == 60
    assert page.locator("ol.logs li").count() == 50
    first_page = page.locator("ol.logs .msg").all_inner_texts()
    assert first_page[0] == "sync batch 109 done"
    screenshot(page, "search")
    page.click("a[rel=next]")
    page.wait_for_load_state()
    second_page = page.locator("ol.logs .msg").all_inner_texts()
    assert second_page[0] == "sync batch 59 done" and not set(first_page) & set(second_page)
    # Filters narrow the result: errors only (every 4th batch).
    page.fill(".searchbar input[name=q]", "sync service:worker level:error attr.batch:8")
    page.press(".searchbar input[name=q]", "Enter")
    page.wait_for_load_state()
    assert page.locator("ol.logs .msg").all_inner_texts() == ["sync batch 8 done"]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live.url + "/search?q=sync&range=1h")
    screenshot(page, "search-phone", full_page=False)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page scrolls sideways on a phone ({width}px)"


def test_hostile_log_message_renders_as_text(page, live):
    _seed(live)
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    # CSP violations (an inline script or style slipping in) show up as console errors.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _login(page, live)
    page.goto(live.url + "/search?q=script&range=1h")
    assert page.locator("ol.logs .msg").first.inner_text() == EVIL
    page.goto(f"{live.url}/requests/{RID}")
    assert page.locator(".msg", has_text="onerror").inner_text() == EVIL
    assert page.locator("img").count() == 0
    page.goto(live.url + "/")
    page.goto(live.url + "/issues")
    assert dialogs == [] and errors == []


def test_forms_without_csrf_token_are_rejected(page, live):
    _login(page, live)
    # A request with the session cookie but no token (what a forged cross-site form sends).
    resp = page.request.post(live.url + "/logout", form={})
    assert resp.status == 403
    page.goto(live.url + "/")
    assert urlsplit(page.url).path == "/"  # still logged in
    # The real form carries the token and logs out.
    page.click("form.logout button")
    page.wait_for_url("**/login")
    page.goto(live.url + "/")
    assert "/login" in page.url
    # Login itself is CSRF-protected too.
    resp = page.request.post(live.url + "/login", form={"email": EMAIL, "password": PASSWORD})
    assert resp.status == 403


def test_pages_without_login_redirect_to_login(page, live):
    for path in ("/", "/search?q=a", f"/requests/{RID}"):
        page.goto(live.url + path)
        assert urlsplit(page.url).path == "/login"
        assert re.search(r"next=", page.url)
    _login(page, live, "/search?q=order")
    assert page.url.endswith("/search?q=order")
    # A new installation tells the user how to send data, with the project's DSN.
    page.goto(live.url + "/")
    assert "No data yet" in page.locator("section.empty h2").inner_text()
    assert f"{live.key}@127.0.0.1:" in page.locator(".snippet").inner_text()
    screenshot(page, "empty-overview")


def test_open_an_issue_and_resolve_it(page, live):
    _seed(live)
    live.ingest({"errors": [{"service": "checkout", "ts": time.time() - 60 * i,
                             "exception": [{"type": "ZeroDivisionError", "value": "division by zero",
                                            "frames": [{"filename": "shop/pricing.py",
                                                        "function": "unit_price", "lineno": 17,
                                                        "in_app": True,
                                                        "pre_context": ["def unit_price(total, n):"],
                                                        "context_line": "    return total / n",
                                                        "post_context": [""],
                                                        "vars": {"total": "12.5", "n": "0"}}]}]}
                            for i in range(3)]})
    _login(page, live, "/issues")
    screenshot(page, "issues")
    rows = page.locator("ol.issues li.issue")
    assert rows.count() == 2  # OutOfStock (from the seed) and ZeroDivisionError
    page.click("a.title:has-text('ZeroDivisionError')")
    page.wait_for_url("**/issues/*")
    assert page.locator(".status-pill").inner_text().strip().lower() == "unresolved"
    assert page.locator(".frames li.inapp .context li.current").inner_text().strip() == \
        "return total / n"
    assert not page.locator(".vars dl").is_visible()  # locals stay collapsed
    page.click(".vars summary")
    assert page.locator(".vars dd", has_text="12.5").is_visible()
    screenshot(page, "issue")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "issue-phone", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("button[value=resolve]")
    page.wait_for_load_state()
    assert page.locator(".status-pill").inner_text().strip().lower() == "resolved"
    assert page.locator("button[value=reopen]").is_visible()
    page.goto(live.url + "/issues")
    assert page.locator("a.title:has-text('ZeroDivisionError')").count() == 0


def _firing_alert(page, server_factory, tmp_path) -> Live:
    """A server whose error-rate rule fires on seeded requests; the page shows it on /alerts."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: checkout-errors\n    kind: error_rate\n"
                     "    window: 5m\n    for: 0s\n    min_requests: 5\n"
                     "    thresholds: {warning: 0.02, critical: 0.05}\n")
    server = server_factory(env={"LOOKOUT_RULES_FILE": str(rules),
                                 "LOOKOUT_EVAL_INTERVAL": "1"})
    server.create_user(EMAIL, PASSWORD)
    dsn = urlsplit(server.create_project("shop"))
    live = Live(server.url, dsn.path.rsplit("/", 1)[1], dsn.username or "")
    now = time.time()
    live.ingest({"requests": [{"request_id": f"r{i}", "method": "POST", "route": "/pay",
                               "status": 500 if i < 4 else 200, "duration_ms": 30,
                               "service": "checkout", "ts": now - 20 + i * 0.1}
                              for i in range(20)]})
    _login(page, live, "/alerts")
    deadline = time.monotonic() + 30
    while page.locator("ol.alerts li.alert").count() == 0:
        assert time.monotonic() < deadline, "the rule never fired"
        page.wait_for_timeout(500)
        page.reload()
    return live


def test_acknowledge_an_alert_and_see_it_change(page, server_factory, tmp_path):
    live = _firing_alert(page, server_factory, tmp_path)
    assert page.locator(".alert .status-pill").first.inner_text().strip().lower() == "firing"
    screenshot(page, "alerts")
    page.click("ol.alerts a.title")
    page.wait_for_url("**/alerts/*")
    page.click("button[value=ack]")
    page.wait_for_load_state()
    assert page.locator(".status-pill").first.inner_text().strip().lower() == "acknowledged"
    assert EMAIL in page.locator(".stats").inner_text()
    assert "acknowledged" in page.locator(".history").inner_text()
    screenshot(page, "alert")
    page.goto(live.url + "/rules")
    assert page.locator(".rule h2").first.inner_text() == "checkout-errors"
    screenshot(page, "rules")
    page.goto(live.url + "/")
    assert "acknowledged" in page.locator(".open-alerts").inner_text()


def test_silence_an_alert_then_expire_the_silence(page, server_factory, tmp_path):
    live = _firing_alert(page, server_factory, tmp_path)
    page.click("ol.alerts a.title")
    page.wait_for_url("**/alerts/*")
    page.click("a.silence-link")
    page.wait_for_url(re.compile(r"/silences\?rule="))
    assert page.locator("select[name=rule]").input_value() == "checkout-errors"
    assert "service=checkout" in page.locator("input[name=labels]").input_value()
    page.fill("input[name=duration]", "45m")
    page.fill("textarea[name=comment]", "deploying the fix <b>now</b>")
    page.click("button:has-text('Create silence')")
    page.wait_for_url(re.compile(r"/silences\?done=created$"))
    active = page.locator("ol.silences li.si-active")
    assert active.count() == 1
    assert "deploying the fix <b>now</b>" in active.inner_text()  # shown as text
    assert EMAIL in active.inner_text()
    screenshot(page, "silences")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "silences-phone", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(live.url + "/alerts?show=silenced")
    assert page.locator("ol.alerts li.alert").count() == 1
    page.click("nav >> text=Silences")
    page.wait_for_url("**/silences")
    page.click("ol.silences li.si-active button:has-text('Expire')")
    page.wait_for_url(re.compile(r"/silences\?done=expired$"))
    assert page.locator("ol.silences li.si-active").count() == 0
    assert page.locator("ol.silences li.si-expired").count() == 1
    page.goto(live.url + "/alerts?show=silenced")
    assert page.locator("ol.alerts li.alert").count() == 0


def test_log_out_everywhere_ends_the_other_browsers_session(browser, page, live):
    _login(page, live)
    other = browser.new_context(viewport={"width": 390, "height": 800})
    phone = other.new_page()
    phone.set_default_timeout(15_000)
    try:
        _login(phone, live)
        assert phone.url.rstrip("/") == live.url
        screenshot(phone, "log-out-everywhere-phone", full_page=False)
        screenshot(page, "log-out-everywhere-desktop", full_page=False)
        page.get_by_role("button", name="Log out everywhere").click()
        page.wait_for_load_state()
        assert "/login" in page.url
        phone.goto(live.url + "/issues")
        assert "/login" in phone.url  # the other browser's session is gone too
        screenshot(phone, "logged-out-everywhere")
    finally:
        other.close()
