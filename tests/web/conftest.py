"""Web fixtures: a UI user, a logged-in client, ingest helpers, and the browser.

Browser tests drive Debian's Chromium through Playwright against a real
``lookout serve`` subprocess; screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lookout import accounts
from lookout.accounts import create_user
from lookout.projects import Project
from lookout.services import Services
from tests.support.tools import require_tool

EMAIL = "dev@example.com"
PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"

_CSRF = re.compile(r'name="_csrf" value="([^"]*)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


_hash_password = accounts.hash_password


@functools.cache
def _password_hash(password: str) -> str:
    return _hash_password(password)


@pytest.fixture
async def user(services: Services, monkeypatch: pytest.MonkeyPatch) -> str:
    """``EMAIL`` with ``PASSWORD``, made by :func:`create_user`.

    Its scrypt hash (production parameters, half a second of a core) is computed
    once per process and reused: a hundred tests need this user, none its salt.
    Logging in still verifies the password against it.
    """
    with monkeypatch.context() as patch:
        patch.setattr(accounts, "hash_password", _password_hash)
        await create_user(services.engine, EMAIL, PASSWORD)
    return EMAIL


async def login(client: httpx.AsyncClient, email: str = EMAIL, password: str = PASSWORD,
                next_url: str = "/") -> httpx.Response:
    form = await client.get("/login")
    return await client.post("/login", data={"_csrf": csrf_from(form.text), "email": email,
                                             "password": password, "next": next_url})


@pytest.fixture
async def ui(client: httpx.AsyncClient, user: str) -> httpx.AsyncClient:
    """The app client, logged in as ``user`` (its cookie jar holds the session)."""
    resp = await login(client)
    assert resp.status_code == 303, resp.text
    return client


async def ingest(client: httpx.AsyncClient, project: Project, body: dict[str, Any]) -> None:
    resp = await client.post(f"/api/{project.id}/ingest", json=body,
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202, resp.text
    assert resp.json()["rejected"] == []


def post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    """POST from the test process to a real server (for browser tests)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


# Module scope, not session: while sync Playwright is open its event loop counts as
# running in this thread, and pytest-asyncio cannot run later async tests.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_tool(CHROMIUM, "chromium", "browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  timezone_id="Europe/Berlin")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def screenshot(page: Any, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
