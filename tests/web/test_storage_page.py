"""``/settings/storage`` through the real app on both databases: admins only, shows the last
snapshot (never counts on a page view), per table, per project and per day."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import event

from lookout.accounts import create_user
from lookout.services import Services
from lookout.storage import DAY, day_of
from tests.web.conftest import ingest, login
from web.storage_page import day_text


async def test_storage_page_shows_the_last_snapshot(ui: httpx.AsyncClient,
                                                     services: Services) -> None:
    from lookout.projects import create_project

    before = await ui.get("/settings/storage")
    assert before.status_code == 200 and "Not counted yet" in before.text
    shop = await create_project(services.engine, "shop")
    today = day_of(time.time())
    await ingest(ui, shop, {"logs": [{"message": "a", "ts": today + 1} for _ in range(3)]
                            + [{"message": "b", "ts": today - 2 * DAY + 1}]})
    await services.storage.refresh()

    statements: list[str] = []
    event.listen(services.engine.sync_engine, "before_cursor_execute",
                 lambda *a: statements.append(a[2]))
    page = await ui.get("/settings/storage")
    assert page.status_code == 200
    assert not [s for s in statements if "count(" in s.lower()]  # read from the snapshot
    html = page.text
    tables = html.split('id="tables"')[1].split("</section>")[0]
    assert "<code>logs</code></td><td class=\"num\">4</td>" in tables
    projects = html.split('id="projects"')[1].split("</section>")[0]
    assert "<td>shop</td><td class=\"num\">4</td>" in projects
    days = html.split('id="days"')[1].split("</section>")[0]
    # Today, yesterday (nothing stored: a gap shows as zeros) and the day before.
    assert days.count("<tr><td>20") == 3
    assert f"<tr><td>{day_text(today - DAY)}</td><td class=\"num\">0</td>" in days
    assert f"<tr><td>{day_text(today - 2 * DAY)}</td><td class=\"num\">1</td>" in days
    assert 'href="/settings/storage"' in (await ui.get("/settings")).text


async def test_members_cannot_see_storage(client: httpx.AsyncClient, services: Services,
                                          user: str) -> None:
    await create_user(services.engine, "member@example.com", "member password")
    assert (await login(client, "member@example.com", "member password")).status_code == 303
    resp = await client.get("/settings/storage")
    assert resp.status_code == 403 and "Only admins" in resp.text
