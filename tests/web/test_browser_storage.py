"""The storage page in Chromium against a real ``lookout serve`` whose storage job runs every
second: figures per table, project and day appear without anyone counting on a page view;
the same figures are on /metrics. Screenshots at 1366 and 390 px, no overflow at 390 px."""

from __future__ import annotations

import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from lookout.storage import DAY, day_of
from tests.support.waiting import wait_until
from tests.web.conftest import EMAIL, PASSWORD, post_json, screenshot
from tests.web.test_browser_settings import _login, _no_overflow

pytestmark = pytest.mark.browser


def test_storage_page_and_gauges(browser, server_factory) -> None:
    server = server_factory(env={"LOOKOUT_STORAGE_INTERVAL": "1"})
    assert server.cli("user", "create", EMAIL, "--password-stdin",
                      stdin=PASSWORD + "\n").returncode == 0
    today = day_of(time.time())
    for name, per_day in (("checkout-service", 40), ("billing", 12)):
        dsn = urlsplit(server.create_project(name))
        project_id, key = dsn.path.rsplit("/", 1)[1], dsn.username
        body = {"logs": [{"message": f"line {i}", "ts": today - age * DAY + 1 + i}
                         for age in range(6) for i in range(per_day // (age + 1))],
                "errors": [{"message": "boom", "ts": today - 2 * DAY + 5}],
                "requests": [{"request_id": f"r{i}", "method": "GET", "route": "/cart",
                              "status": 200, "duration_ms": 3, "ts": today + 1}
                             for i in range(per_day)]}
        assert post_json(f"{server.url}/api/{project_id}/ingest", body,
                         {"X-Lookout-Key": key}) == 202

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _login(page, server.url, EMAIL, PASSWORD)

    def counted() -> bool:
        page.goto(server.url + "/settings/storage")
        return "billing" in page.locator("#projects").inner_text() if page.locator(
            "#projects").count() else False

    wait_until(counted, timeout=30, interval=0.5)
    assert "checkout-service" in page.locator("#projects").inner_text()
    days = page.locator("#days tbody tr")
    assert days.count() == 6
    screenshot(page, "storage")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "storage-phone")
    _no_overflow(page)
    context.close()

    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as resp:
        exposed = resp.read().decode()
    rows = [line for line in exposed.splitlines()
            if line.startswith('lookout_storage_rows{table="request_records"}')]
    assert rows and float(rows[0].split()[-1]) == 52
    oldest = [line for line in exposed.splitlines()
              if line.startswith('lookout_storage_oldest_day_timestamp{table="logs"}')]
    assert oldest and float(oldest[0].split()[-1]) == today - 5 * DAY
