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
