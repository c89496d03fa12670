"""Login, sessions, CSRF, throttling and security headers through the real app."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar, Response, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from sqlalchemy import select

from lookout.http import http_exception_handler, json_response
from tests.web.conftest import EMAIL, PASSWORD, csrf_from, login
from web import pages, throttle
from web.auth import require_reader
from web.sessions import SESSION_COOKIE, csrf_token, session_id
from web.tables import sessions
from web.ui import build_environment


@pytest.mark.parametrize("path", ["/", "/search?q=a%20b", "/requests/abc"])
async def test_pages_redirect_to_login_with_next(client, path):
    resp = await client.get(path)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?" + httpx.QueryParams({"next": path}).__str__()


async def test_login_sets_a_hardened_cookie_and_lands_on_next(client, user, services):
    resp = await login(client, next_url="/search?q=x")
    assert resp.status_code == 303 and resp.headers["location"] == "/search?q=x"
    cookie = next(c for c in resp.headers.get_list("set-cookie")
                  if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    async with services.engine.connect() as conn:
        stored = (await conn.execute(select(sessions.c.id))).scalars().all()
    assert stored == [session_id(token)]  # only the hash is stored
    page = await client.get("/")
    assert page.status_code == 200 and EMAIL in page.text


async def test_cookie_is_secure_behind_https(services, user):
    from lookout.app import create_app

    svc = type(services).build(services.settings.replace(base_url="https://lookout.example"))
    app = create_app(services=svc, background_jobs=False)
    await svc.start(background_jobs=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="https://lookout.example") as c:
            resp = await login(c)
            assert resp.status_code == 303
            assert all("Secure" in h for h in resp.headers.get_list("set-cookie"))
    finally:
        await svc.stop()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil",
                                    "javascript:alert(1)"])
async def test_next_never_leaves_the_site(client, user, target):
    resp = await login(client, next_url=target)
    assert resp.status_code == 303 and resp.headers["location"] == "/"


async def test_wrong_password_is_refused_without_saying_which_part(client, user):
    resp = await login(client, password="wrong password")
    assert resp.status_code == 401 and "Wrong email or password" in resp.text
    unknown = await login(client, email="nobody@example.com")
    assert unknown.status_code == 401 and "Wrong email or password" in unknown.text
    assert (await client.get("/")).status_code == 303


async def test_login_form_without_csrf_is_rejected(client, user):
    await client.get("/login")
    resp = await client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert resp.status_code == 403 and "form expired" in resp.text
    forged = await client.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                               "_csrf": "0" * 64})
    assert forged.status_code == 403
    assert (await client.get("/")).status_code == 303


async def test_throttling_per_email_and_ip(client, user):
    for _ in range(throttle.LoginLimits().max_failures):
        assert (await login(client, password="nope nope")).status_code == 401
    blocked = await login(client)  # even the right password waits now
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "Too many failed attempts" in blocked.text


async def test_logout_needs_csrf_and_ends_the_session(ui):
    page = await ui.get("/")
    refused = await ui.post("/logout", data={})
    assert refused.status_code == 403
    assert (await ui.get("/")).status_code == 200
    out = await ui.post("/logout", data={"_csrf": csrf_from(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await ui.get("/")).status_code == 303


async def test_stolen_cookie_is_useless_after_logout(ui, client):
    token = ui.cookies[SESSION_COOKIE]
    page = await ui.get("/")
    await ui.post("/logout", data={"_csrf": csrf_from(page.text)})
    client.cookies.set(SESSION_COOKIE, token)
    assert (await client.get("/")).status_code == 303


async def test_security_headers_on_pages(ui):
    for path in ("/", "/login", "/search?q=x"):
        resp = await ui.get(path)
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "same-origin"
    static = await ui.get("/static/style.css")
    assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"


async def test_read_api_accepts_a_session_or_a_token(client, ui, auth_headers):
    assert (await ui.get("/api/v1/logs")).status_code == 200
    ui.cookies.clear()
    anonymous = await ui.get("/api/v1/logs")
    assert anonymous.status_code == 401 and "log in" in anonymous.json()["error"]
    assert (await ui.get("/api/v1/logs", headers=auth_headers)).status_code == 200
    bad = await ui.get("/api/v1/logs", headers={"Authorization": "Basic abc"})
    assert bad.status_code == 401 and "Bearer" in bad.json()["error"]


async def test_unsafe_api_calls_with_a_session_need_the_csrf_header(services, user):
    """require_reader on a POST route: cookie alone is refused, cookie + X-CSRF-Token passes."""

    @post("/api/v1/probe", guards=[require_reader], status_code=200)
    async def probe() -> Response:
        return json_response({"ok": True})

    app = Litestar(route_handlers=[probe, *pages.routers], state=State({"services": services}),
                   template_config=TemplateConfig(
                       instance=JinjaTemplateEngine.from_environment(build_environment())),
                   exception_handlers={HTTPException: http_exception_handler})
    await services.start(background_jobs=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            assert (await login(c)).status_code == 303
            refused = await c.post("/api/v1/probe")
            assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
            wrong = await c.post("/api/v1/probe", headers={"X-CSRF-Token": "0" * 64})
            assert wrong.status_code == 403
            good = csrf_token(services.secret_key, session_id(c.cookies[SESSION_COOKIE]))
            ok = await c.post("/api/v1/probe", headers={"X-CSRF-Token": good})
            assert ok.status_code == 200 and ok.json() == {"ok": True}
    finally:
        await services.stop()


async def test_nul_in_email_or_password_is_a_400(client, user):
    # The throttle lookup sent the NUL to PostgreSQL: once a 500.
    for email, password in ((user + "\x00", "pw"), (user, "pw\x00")):
        resp = await login(client, email=email, password=password)
        assert resp.status_code == 400, resp.text
        assert "NUL" in resp.text
