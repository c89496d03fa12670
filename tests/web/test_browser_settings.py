"""The settings page in Chromium against a real ``lookout serve``: an admin rotates a key,
makes a token and adds a member; the member sees no management forms. Screenshots at
desktop and phone width, and no horizontal overflow at 390 px."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.web.conftest import EMAIL, PASSWORD, screenshot

pytestmark = pytest.mark.browser


def _login(page, url: str, email: str, password: str) -> None:
    page.goto(url + "/settings")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/settings")


def _no_overflow(page) -> None:
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)""")
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"page is {width}px wide in a {viewport}px viewport: {wide}"


def test_admin_and_member_on_the_settings_page(browser, server_factory) -> None:
    server = server_factory()
    server.create_user(EMAIL, PASSWORD)
    old_key = urlsplit(server.create_project("checkout-service-with-a-long-name")).username

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _login(page, server.url, EMAIL, PASSWORD)
    page.click("#projects form:has(input[value=add_key]) button")
    page.wait_for_url("**/settings?done=key_added")
    assert page.locator("#projects .keys li.active").count() == 2
    page.click(f"#projects li:has(input[value='{old_key}']) button")
    page.wait_for_url("**/settings?done=key_revoked")
    assert page.locator("#projects .keys li.revoked").count() == 1

    page.fill("#tokens input[name=name]", "grafana")
    page.click("#tokens form:has(input[value=create]) button")
    secret = page.locator("pre.secret").inner_text()
    assert secret.startswith("lkt_")

    page.fill("#users input[name=email]", "member@example.com")
    page.fill("#users input[name=password]", "member password")
    page.click("#users form:has(input[value=create]) button")
    page.wait_for_url("**/settings?done=user_created")
    assert "member@example.com" in page.locator("#users").inner_text()
    screenshot(page, "settings")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "settings-phone")
    _no_overflow(page)
    context.close()

    member = browser.new_context(viewport={"width": 390, "height": 844})
    mpage = member.new_page()
    mpage.set_default_timeout(15_000)
    _login(mpage, server.url, "member@example.com", "member password")
    assert "member: you can read and triage" in mpage.inner_text("main")
    assert mpage.locator("#projects, #users, #tokens").count() == 0
    _no_overflow(mpage)
    member.close()
