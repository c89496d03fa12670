"""Session lifetime (sliding idle expiry, absolute cap) and CSRF tokens, with a fixed clock."""

from __future__ import annotations

from lookout.accounts import create_user
from web import sessions as s

T0 = 1_800_000_000.0


async def test_sliding_expiry_and_absolute_cap(engine):
    user_id = await create_user(engine, "a@example.com", "password123")
    token = await s.create_session(engine, user_id, "1.2.3.4", "test", T0)
    live = await s.load_session(engine, token, T0 + 10)
    assert live is not None and live.email == "a@example.com"
    assert live.expires_at == T0 + s.IDLE_SECONDS  # not touched yet (cheap reads)
    # Used every 6 days: stays alive past the first idle deadline ...
    t = T0
    while t + 6 * 86400 < T0 + s.ABSOLUTE_SECONDS:
        t += 6 * 86400
        assert await s.load_session(engine, token, t) is not None
    # ... but never beyond the absolute lifetime.
    assert await s.load_session(engine, token, T0 + s.ABSOLUTE_SECONDS + 1) is None


async def test_idle_session_expires_and_unknown_tokens_fail(engine):
    user_id = await create_user(engine, "b@example.com", "password123")
    token = await s.create_session(engine, user_id, "", "", T0)
    assert await s.load_session(engine, token, T0 + s.IDLE_SECONDS + 1) is None
    assert await s.load_session(engine, "nope", T0) is None
    assert await s.load_session(engine, "x" * 500, T0) is None
    # Expired sessions are cleaned up when someone logs in.
    other = await s.create_session(engine, user_id, "", "", T0 + s.IDLE_SECONDS + 2)
    assert await s.load_session(engine, other, T0 + s.IDLE_SECONDS + 3) is not None


def test_csrf_tokens_are_bound_to_the_session_and_key():
    a = s.csrf_token("key", "session-a")
    assert s.check_csrf("key", "session-a", a)
    assert not s.check_csrf("key", "session-b", a)
    assert not s.check_csrf("other-key", "session-a", a)
    assert not s.check_csrf("key", "session-a", None)
    login = s.login_csrf_token("key", "pre")
    assert s.check_login_csrf("key", "pre", login) and not s.check_login_csrf("key", "", login)
    assert login != s.csrf_token("key", "pre")  # purposes never collide


def test_log_out_everywhere_ends_every_session_of_the_user(db_url, server_factory):
    """Two browsers of one user and one of another, through the real server."""
    import httpx

    from tests.web.conftest import EMAIL, PASSWORD, csrf_from

    server = server_factory(db_url=db_url)
    for email in (EMAIL, "other@example.com"):
        server.create_user(email, PASSWORD)

    def logged_in(email: str) -> httpx.Client:
        c = httpx.Client(base_url=server.url, timeout=60)
        form = c.get("/login")
        resp = c.post("/login", data={"_csrf": csrf_from(form.text), "email": email,
                                      "password": PASSWORD, "next": "/"})
        assert resp.status_code == 303 and resp.headers["location"] == "/"
        return c

    laptop, phone, colleague = logged_in(EMAIL), logged_in(EMAIL), logged_in("other@example.com")
    try:
        page = laptop.get("/")
        assert page.status_code == 200 and 'formaction="/logout/everywhere"' in page.text
        assert laptop.post("/logout/everywhere", data={}).status_code == 403  # no CSRF token
        assert phone.get("/").status_code == 200
        out = laptop.post("/logout/everywhere", data={"_csrf": csrf_from(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        for ended in (laptop, phone):
            resp = ended.get("/")
            assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
        assert colleague.get("/").status_code == 200  # other users keep their sessions
    finally:
        for c in (laptop, phone, colleague):
            c.close()
