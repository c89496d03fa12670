"""``/settings`` through the real app: admins manage projects, keys, users and tokens; members
see their account only and every form refuses them (403); CSRF on every form (both databases)."""

from __future__ import annotations

import re

import httpx
import pytest

from lookout.accounts import check_token, create_user, list_tokens, list_users
from lookout.projects import list_keys, list_projects
from lookout.services import Services
from tests.web.conftest import csrf_from, login

FORMS = {
    "/settings/projects": [{"action": "create", "project": "x"},
                           {"action": "rename", "project": "shop", "new_name": "y"},
                           {"action": "delete", "project": "shop", "confirm": "shop"},
                           {"action": "add_key", "project": "shop"},
                           {"action": "revoke_key", "project": "shop", "key": "k"},
                           {"action": "retention", "project": "shop", "logs": "3"}],
    "/settings/users": [{"action": "create", "email": "e@example.com", "password": "12345678"},
                        {"action": "delete", "email": "dev@example.com"}],
    "/settings/tokens": [{"action": "create", "name": "t"},
                         {"action": "revoke", "token_id": "1"}],
}


async def _post(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    page = await client.get("/settings")
    return await client.post(path, data={"_csrf": csrf_from(page.text), **data})


async def test_admin_manages_projects_and_keys(ui: httpx.AsyncClient, services: Services) -> None:
    resp = await _post(ui, "/settings/projects", {"action": "create", "project": "shop"})
    assert resp.status_code == 303 and resp.headers["location"] == "/settings?done=project_created"
    (shop,) = await list_projects(services.engine)
    page = await ui.get("/settings?done=project_created")
    assert "Project created." in page.text and f"{shop.public_key}@" in page.text

    assert (await _post(ui, "/settings/projects",
                        {"action": "add_key", "project": "shop"})).status_code == 303
    keys = await list_keys(services.engine, "shop")
    assert len(keys) == 2 and all(k.active for k in keys)
    assert (await _post(ui, "/settings/projects", {"action": "revoke_key", "project": "shop",
                                                   "key": shop.public_key})).status_code == 303
    assert [k.active for k in await list_keys(services.engine, "shop")] == [False, True]

    assert (await _post(ui, "/settings/projects", {"action": "rename", "project": "shop",
                                                   "new_name": "store"})).status_code == 303
    wrong = await _post(ui, "/settings/projects", {"action": "delete", "project": "store",
                                                   "confirm": "shop"})
    assert wrong.status_code == 400 and "Type the project&#39;s name (store)" in wrong.text
    assert (await _post(ui, "/settings/projects", {"action": "delete", "project": "store",
                                                   "confirm": "store"})).status_code == 303
    assert await list_projects(services.engine) == []


async def test_admin_manages_users_and_tokens(ui: httpx.AsyncClient, services: Services) -> None:
    assert (await _post(ui, "/settings/users", {"action": "create", "email": "bob@example.com",
                                                "password": "long enough"})).status_code == 303
    short = await _post(ui, "/settings/users", {"action": "create", "email": "c@example.com",
                                                "password": "short"})
    assert short.status_code == 400 and "at least 8" in short.text
    assert [(u.email, u.is_admin) for u in await list_users(services.engine)] == [
        ("dev@example.com", True), ("bob@example.com", False)]

    created = await _post(ui, "/settings/tokens", {"action": "create", "name": "grafana"})
    assert created.status_code == 201
    secret = re.search(r'<pre class="secret">(lkt_[^<]+)</pre>', created.text).group(1)
    assert await check_token(services.engine, secret)
    assert secret not in (await ui.get("/settings")).text  # shown once only
    (token,) = await list_tokens(services.engine)
    assert (await _post(ui, "/settings/tokens", {"action": "revoke",
                                                 "token_id": str(token.id)})).status_code == 303
    assert not await check_token(services.engine, secret)
    assert (await _post(ui, "/settings/users", {"action": "delete",
                                                "email": "bob@example.com"})).status_code == 303
    assert [u.email for u in await list_users(services.engine)] == ["dev@example.com"]


async def test_members_see_only_their_account_and_every_form_refuses_them(
        client: httpx.AsyncClient, services: Services, user: str) -> None:
    await create_user(services.engine, "member@example.com", "member password")
    assert (await login(client, "member@example.com", "member password")).status_code == 303
    page = await client.get("/settings")
    assert page.status_code == 200 and "member: you can read and triage" in page.text
    assert "/settings/projects" not in page.text and "/settings/tokens" not in page.text
    for path, bodies in FORMS.items():
        for body in bodies:
            resp = await _post(client, path, body)
            assert resp.status_code == 403, (path, body, resp.status_code)
            assert "Only admins" in resp.text
    assert [u.email for u in await list_users(services.engine)] == [
        "dev@example.com", "member@example.com"]


@pytest.mark.parametrize("path", sorted(FORMS))
async def test_forms_need_the_csrf_token(ui: httpx.AsyncClient, path: str) -> None:
    resp = await ui.post(path, data={"_csrf": "wrong", **FORMS[path][0]})
    assert resp.status_code == 403 and "CSRF" in resp.text


async def test_admin_sets_project_retention(ui: httpx.AsyncClient, services: Services) -> None:
    from lookout.project_retention import get_retention

    assert (await _post(ui, "/settings/projects", {"action": "create",
                                                   "project": "shop"})).status_code == 303
    resp = await _post(ui, "/settings/projects", {"action": "retention", "project": "shop",
                                                  "logs": "14", "errors": "90", "metrics": "",
                                                  "requests": ""})
    assert resp.status_code == 303 and resp.headers["location"] == "/settings?done=retention_set"
    kept = await get_retention(services.engine, services.settings, "shop")
    assert [(r.kind, r.days, r.overridden) for r in kept] == [
        ("logs", 14, True), ("errors", 90, True), ("metrics", 30, False),
        ("requests", 30, False)]
    page = (await ui.get("/settings")).text
    assert 'name="logs" value="14"' in page and 'name="metrics" value="" placeholder="30"' in page
    bad = await _post(ui, "/settings/projects", {"action": "retention", "project": "shop",
                                                 "logs": "-1"})
    assert bad.status_code == 400 and "logs retention must be a whole number" in bad.text
    cleared = await _post(ui, "/settings/projects", {"action": "retention", "project": "shop",
                                                     "logs": "", "errors": "90"})
    assert cleared.status_code == 303
    kept = await get_retention(services.engine, services.settings, "shop")
    assert [r.overridden for r in kept] == [False, True, False, False]
