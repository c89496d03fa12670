"""Server-side sessions and the CSRF tokens tied to them.

The cookie holds a random token; the database holds only its SHA-256, the
user and the expiry. A session lasts ``IDLE_SECONDS`` after its last use
(sliding, refreshed at most once per ``TOUCH_EVERY`` to keep reads cheap) and
never longer than ``ABSOLUTE_SECONDS`` after login, like most web apps.

CSRF tokens are an HMAC of the session id under the installation's secret
key: nothing extra to store, valid exactly as long as the session, useless
with another session. Before login there is no session, so the login form
is tied to a random pre-login cookie the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from lookout.tables import users
from web.tables import sessions

SESSION_COOKIE = "lookout_session"
PRELOGIN_COOKIE = "lookout_login"
IDLE_SECONDS = 7 * 86400
ABSOLUTE_SECONDS = 30 * 86400
TOUCH_EVERY = 300


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # sha256 hex of the cookie token
    user_id: int
    email: str
    expires_at: float


def new_token() -> str:
    return secrets.token_urlsafe(32)


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret_key: str, purpose: str, value: str) -> str:
    mac = hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_token(secret_key: str, sid: str) -> str:
    return sign(secret_key, "csrf", sid)


def check_csrf(secret_key: str, sid: str, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(secret_key, sid), str(token))


def login_csrf_token(secret_key: str, prelogin: str) -> str:
    return sign(secret_key, "login-csrf", prelogin)


def check_login_csrf(secret_key: str, prelogin: str | None, token: str | None) -> bool:
    if not prelogin or not token:
        return False
    return hmac.compare_digest(login_csrf_token(secret_key, prelogin), str(token))


async def create_session(engine: AsyncEngine, user_id: int, ip: str, user_agent: str,
                         now: float) -> str:
    """Store a new session and return the token for the cookie."""
    token = new_token()
    async with engine.begin() as conn:
        # Expired sessions are removed here (logins are rare) rather than by a job.
        await conn.execute(delete(sessions).where(sessions.c.expires_at < now))
        await conn.execute(sessions.insert().values(
            id=session_id(token), user_id=user_id, created_at=now, last_seen_at=now,
            expires_at=now + IDLE_SECONDS, ip=ip[:64], user_agent=user_agent[:300]))
    return token


async def load_session(engine: AsyncEngine, token: str, now: float) -> Session | None:
    """The live session for a cookie token, sliding its expiry; None if unknown or expired."""
    if not token or len(token) > 100:
        return None
    sid = session_id(token)
    query = (select(sessions.c.user_id, sessions.c.created_at, sessions.c.last_seen_at,
                    sessions.c.expires_at, users.c.email)
             .join(users, users.c.id == sessions.c.user_id).where(sessions.c.id == sid))
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None or row.expires_at <= now:
        return None
    expires_at = row.expires_at
    if now - row.last_seen_at >= TOUCH_EVERY:
        expires_at = min(now + IDLE_SECONDS, row.created_at + ABSOLUTE_SECONDS)
        async with engine.begin() as conn:
            await conn.execute(update(sessions).where(sessions.c.id == sid)
                               .values(last_seen_at=now, expires_at=expires_at))
    return Session(sid, row.user_id, row.email, expires_at)


async def delete_session(engine: AsyncEngine, sid: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.id == sid))


async def delete_user_sessions(engine: AsyncEngine, user_id: int) -> int:
    """End every session of ``user_id`` (all browsers, all instances); how many there were."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
    return int(result.rowcount or 0)
