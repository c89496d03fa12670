"""Security headers on every UI response: pages, redirects, error pages, static files."""

from __future__ import annotations

import httpx

from lookout.app import create_app
from lookout.services import Services
from tests.security.test_read_access import PUBLIC, concrete


def check(resp: httpx.Response, what: str) -> None:
    csp = resp.headers.get("content-security-policy", "")
    for part in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'",
                 "form-action 'self'", "base-uri 'none'"):
        assert part in csp, (what, resp.status_code, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    assert resp.headers.get("x-content-type-options") == "nosniff", what
    assert resp.headers.get("referrer-policy") == "same-origin", what
    assert resp.headers.get("x-frame-options") == "DENY", what


def page_paths(services: Services) -> list[str]:
    app = create_app(services=services, background_jobs=False).app
    return sorted({concrete(r.path) for r in app.routes if "GET" in r.methods
                   and r.path not in PUBLIC and not r.path.startswith(("/api/", "/schema"))})


async def test_every_page_logged_in(ui: httpx.AsyncClient, services: Services) -> None:
    paths = page_paths(services)
    for path in [*paths, "/login", "/issues/999999", "/alerts/999999", "/search?q=level:nope",
                 "/search?q=%22unterminated", "/issues?status=bogus"]:
        resp = await ui.get(path)
        assert resp.status_code < 500, (path, resp.status_code)
        check(resp, path)


async def test_every_page_logged_out(client: httpx.AsyncClient, services: Services) -> None:
    for path in [*page_paths(services), "/login", "/login?next=%2Fissues"]:
        check(await client.get(path), path)  # redirects to /login included
    bad = await client.post("/login", data={"email": "a@b.c", "password": "x"})  # no CSRF
    assert bad.status_code in (400, 403)
    check(bad, "POST /login without CSRF")


async def test_form_posts_and_their_errors(ui: httpx.AsyncClient) -> None:
    resp = await ui.post("/alerts/999999/ack", data={"_csrf": "wrong"})
    assert resp.status_code == 403
    check(resp, "POST with a wrong CSRF token")


async def test_static_files_are_nosniff(client: httpx.AsyncClient) -> None:
    resp = await client.get("/static/style.css")
    assert resp.status_code == 200
    assert resp.headers["x-content-type-options"] == "nosniff"
