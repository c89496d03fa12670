"""UI users (scrypt-hashed passwords) and read-API tokens (stored as SHA-256)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from lookout.db import now
from lookout.errors import ConfigError
from lookout.tables import api_tokens, users

# scrypt parameters: n=2**14, r=8, p=1 (OWASP's minimum recommendation), 16 MiB.
_N, _R, _P = 2**14, 8, 1
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
TOKEN_PREFIX = "lkt_"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


async def create_user(engine: AsyncEngine, email: str, password: str) -> int:
    email = email.strip().lower()
    if not EMAIL_RE.fullmatch(email):
        raise ConfigError(f"{email!r} is not an email address")
    if len(password) < 8:
        raise ConfigError("password must be at least 8 characters")
    try:
        async with engine.begin() as conn:
            result = await conn.execute(users.insert().values(
                email=email, password_hash=hash_password(password), created_at=now()))
    except IntegrityError:
        raise ConfigError(f"a user {email!r} already exists") from None
    return result.inserted_primary_key[0]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(engine: AsyncEngine, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ConfigError("token name must be 1-200 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(api_tokens.insert().values(
            name=name, token_hash=token_digest(token), created_at=now()))
    return token


# ``last_used_at`` is refreshed at most this often: writing it on every API call
# would make each read a write transaction (an fsync on SQLite).
TOKEN_TOUCH_SECONDS = 60


async def check_token(engine: AsyncEngine, token: str) -> bool:
    digest = token_digest(token)
    async with engine.connect() as conn:
        row = (await conn.execute(select(api_tokens.c.id, api_tokens.c.last_used_at)
                                  .where(api_tokens.c.token_hash == digest))).first()
    if row is None:
        return False
    current = now()
    if row.last_used_at is None or current - row.last_used_at >= TOKEN_TOUCH_SECONDS:
        async with engine.begin() as conn:
            await conn.execute(update(api_tokens).where(api_tokens.c.id == row.id)
                               .values(last_used_at=current))
    return True


# Checked when the email is unknown, so a login takes as long either way and
# response time does not reveal which emails have accounts.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


async def authenticate(engine: AsyncEngine, email: str, password: str) -> int | None:
    """The user's id when ``password`` is right for ``email``, else None.

    scrypt costs tens of milliseconds of CPU, so it runs in a worker thread
    and does not stall the event loop (and ingest) while someone logs in.
    """
    email = email.strip().lower()
    async with engine.connect() as conn:
        row = (await conn.execute(select(users.c.id, users.c.password_hash)
                                  .where(users.c.email == email))).first()
    stored = row.password_hash if row else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, password, stored)
    return row.id if (row and ok) else None
