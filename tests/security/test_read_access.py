"""Nothing is readable (or changeable) without a token or a session.

Every route of the app is classified here; a route added later without being
classified fails :func:`test_every_route_is_classified`, so the list cannot
silently fall behind. The model (docs/security.md): one kind of user, who
sees every project; API tokens have the same reach as a logged-in user.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import delete

from lookout.accounts import create_token
from lookout.app import create_app
from lookout.services import Services
from lookout.tables import api_tokens
from web.sessions import SESSION_COOKIE

# Reachable without credentials, each for a stated reason (docs/security.md).
PUBLIC = {
    "/healthz", "/readyz", "/metrics",  # probes and Prometheus; restrict at the proxy if needed
    "/login", "/logout", "/logout/everywhere",  # need the session's CSRF token, not a login
    "/slack/interactions",  # authenticated by Slack's request signature instead
    "/static/{file_path:path}",
    "/schema", "/schema/openapi.json", "/schema/openapi.yaml", "/schema/openapi.yml",
    "/schema/{path:str}",
}
EXAMPLE = {"int": "1", "str": "abc", "path": "abc"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+):(\w+)\}", lambda m: "ack" if m.group(1) == "action"
                  else EXAMPLE[m.group(2)], path)


def routes(services: Services) -> list[tuple[str, str]]:
    app = create_app(services=services, background_jobs=False).app
    return sorted((method, r.path) for r in app.routes for method in r.methods
                  if method in ("GET", "POST"))


def test_every_route_is_classified(services: Services) -> None:
    for _method, path in routes(services):
        assert path in PUBLIC or path.startswith("/api/v1/") or not path.startswith(
            ("/api", "/slack", "/schema", "/static")), f"unclassified route {path}"


async def test_api_without_or_with_bad_credentials_is_401(client: httpx.AsyncClient,
                                                          services: Services) -> None:
    api = [(m, concrete(p)) for m, p in routes(services) if p.startswith("/api/v1/")]
    assert len(api) >= 13
    for auth in (None, "Bearer lk_" + "x" * 40, "Bearer ", "Basic dXNlcjpwYXNz", "token"):
        headers = {"Authorization": auth} if auth is not None else {}
        for method, path in api:
            resp = await client.request(method, path, headers=headers, json={})
            assert resp.status_code == 401, (method, path, auth, resp.text)
            assert resp.json()["error"], (method, path)
    # A session cookie that is not a live session is no credential either.
    client.cookies.set(SESSION_COOKIE, "forged-" + "a" * 40)
    for method, path in api:
        resp = await client.request(method, path, json={})
        assert resp.status_code == 401, (method, path, resp.text)


async def test_pages_without_a_session_go_to_login(client: httpx.AsyncClient,
                                                   services: Services) -> None:
    pages = [(m, concrete(p)) for m, p in routes(services)
             if p not in PUBLIC and not p.startswith(("/api/", "/schema"))]
    assert {p for _m, p in pages} >= {"/", "/search", "/requests/abc", "/issues", "/issues/abc",
                                      "/alerts", "/alerts/1", "/rules"}
    for cookie in (None, "forged-" + "b" * 40):
        if cookie:
            client.cookies.set(SESSION_COOKIE, cookie)
        for method, path in pages:
            resp = await client.request(method, path, data={"_csrf": "x"})
            assert resp.status_code == 303, (method, path, resp.status_code)
            assert resp.headers["location"].startswith("/login"), (method, path)


async def test_a_deleted_token_is_refused(client: httpx.AsyncClient, services: Services) -> None:
    token = await create_token(services.engine, "short-lived")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/issues", headers=headers)).status_code == 200
    async with services.engine.begin() as conn:
        await conn.execute(delete(api_tokens).where(api_tokens.c.name == "short-lived"))
    # Refused at once by the process that has just accepted it (no cache), and by any other.
    resp = await client.get("/api/v1/issues", headers=headers)
    assert resp.status_code == 401 and resp.json() == {"error": "unknown API token"}
    fresh = create_app(services=services, background_jobs=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fresh),
                                 base_url="http://lookout.test") as other:
        resp = await other.get("/api/v1/issues", headers=headers)
    assert resp.status_code == 401 and resp.json() == {"error": "unknown API token"}


@pytest.mark.parametrize("path", ["/schema/swagger", "/schema/redoc", "/schema/elements",
                                  "/schema/rapidoc"])
async def test_no_third_party_script_pages(client: httpx.AsyncClient, path: str) -> None:
    """The schema is JSON/YAML only: HTML viewers would load scripts from a CDN."""
    resp = await client.get(path)
    assert resp.status_code == 404
    assert "cdn." not in resp.text
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Lookout"
