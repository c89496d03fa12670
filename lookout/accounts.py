"""UI users (scrypt-hashed passwords) and read-API tokens (stored as SHA-256).

A password hash is ``scrypt$N$r$p$salt$digest``: the parameters travel with
the hash, so raising them later leaves old hashes verifiable, and a user's
hash is upgraded to the current parameters at their next successful login.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from lookout.db import now
from lookout.errors import ConfigError
from lookout.tables import api_tokens, users

# scrypt parameters: N=2**17, r=8, p=1, OWASP's current minimum (Password Storage
# Cheat Sheet). One hash needs 128 MiB and about 0.5 s of one core, which is why
# checks run in a small pool of their own (LOOKOUT_LOGIN_HASH_THREADS).
_N, _R, _P = 2**17, 8, 1
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
TOKEN_PREFIX = "lkt_"
T = TypeVar("T")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL refuses work needing more than ``maxmem`` (32 MiB by default, too
    # little for N=2**17): allow exactly what these parameters need, plus slack.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=maxmem)


def hash_password(password: str, n: int = _N, r: int = _R, p: int = _P) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p, 32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p), len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than today's."""
    return not stored.startswith(f"scrypt${_N}${_R}${_P}$")


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise ConfigError("password must be at least 8 characters")


async def create_user(engine: AsyncEngine, email: str, password: str,
                      admin: bool = False) -> int:
    """A new UI user; the first user of an installation is always an admin."""
    email = email.strip().lower()
    if not EMAIL_RE.fullmatch(email):
        raise ConfigError(f"{email!r} is not an email address")
    _check_password(password)
    digest = await asyncio.to_thread(hash_password, password)  # scrypt: off the event loop
    try:
        async with engine.begin() as conn:
            first = not (await conn.execute(select(users.c.id).limit(1))).first()
            result = await conn.execute(users.insert().values(
                email=email, password_hash=digest, created_at=now(),
                is_admin=admin or first))
    except IntegrityError:
        raise ConfigError(f"a user {email!r} already exists") from None
    return result.inserted_primary_key[0]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    is_admin: bool
    created_at: float


async def list_users(engine: AsyncEngine) -> list[User]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(users.c.id, users.c.email, users.c.is_admin,
                                          users.c.created_at).order_by(users.c.id))).all()
    return [User(r.id, r.email, bool(r.is_admin), r.created_at) for r in rows]


async def is_admin(engine: AsyncEngine, user_id: int) -> bool:
    async with engine.connect() as conn:
        return bool((await conn.execute(select(users.c.is_admin)
                                        .where(users.c.id == user_id))).scalar())


async def set_password(engine: AsyncEngine, email: str, password: str) -> None:
    """New password for ``email``. Existing sessions stay (``delete`` ends them)."""
    _check_password(password)
    digest = await asyncio.to_thread(hash_password, password)
    async with engine.begin() as conn:
        result = await conn.execute(update(users).where(users.c.email == email.strip().lower())
                                    .values(password_hash=digest))
    if not result.rowcount:
        raise ConfigError(f"no user {email.strip().lower()!r}")


async def delete_user(engine: AsyncEngine, email: str) -> None:
    """Delete a user; their sessions go with them (the sessions table cascades), so they are
    logged out on every instance at once. The last admin cannot be deleted."""
    email = email.strip().lower()
    async with engine.begin() as conn:
        row = (await conn.execute(select(users.c.id, users.c.is_admin)
                                  .where(users.c.email == email))).first()
        if row is None:
            raise ConfigError(f"no user {email!r}")
        if row.is_admin:
            others = (await conn.execute(select(users.c.id).where(
                users.c.is_admin.is_(True), users.c.id != row.id).limit(1))).first()
            if others is None:
                raise ConfigError(f"{email!r} is the last admin; make another admin first")
        await conn.execute(delete(users).where(users.c.id == row.id))


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


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    name: str
    created_at: float
    last_used_at: float | None


async def list_tokens(engine: AsyncEngine) -> list[Token]:
    """Every read-API token, never its secret (only a digest is stored anyway)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(api_tokens.c.id, api_tokens.c.name,
                                          api_tokens.c.created_at, api_tokens.c.last_used_at)
                                   .order_by(api_tokens.c.id))).all()
    return [Token(r.id, r.name, r.created_at, r.last_used_at) for r in rows]


async def revoke_token(engine: AsyncEngine, name_or_id: str) -> int:
    """Delete the token with this id, else every token with this name; how many went.

    Tokens are checked against the database on every request, so a revoked
    token is refused at once on every instance.
    """
    text = name_or_id.strip()
    condition = api_tokens.c.name == text
    if text.isascii() and text.isdigit() and len(text) < 18:
        condition = api_tokens.c.id == int(text)
    async with engine.begin() as conn:
        result = await conn.execute(delete(api_tokens).where(condition))
    if not result.rowcount:
        raise ConfigError(f"no token {text!r} (give its name or id; see `lookout token list`)")
    return result.rowcount


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
# response time does not reveal which emails have accounts. Its digest is random
# (no password matches it); computing a real one would cost every import 0.5 s.
_DUMMY_HASH = f"scrypt${_N}${_R}${_P}${secrets.token_hex(16)}${secrets.token_hex(32)}"


@functools.cache
def _hash_pool(threads: int) -> ThreadPoolExecutor:
    """The threads password checks run in: at most ``threads`` scrypt runs (128 MiB
    each) at once however many logins arrive, and the event loop (ingest) never waits."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lookout-scrypt")


async def _in_pool(threads: int, fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hash_pool(threads), fn, *args)


async def authenticate(engine: AsyncEngine, email: str, password: str,
                       hash_threads: int = 2) -> int | None:
    """The user's id when ``password`` is right for ``email``, else None.

    A hash made with older scrypt parameters is replaced by one with the
    current parameters after a successful check (only the password proves who
    the user is, so this is the only moment it can be done). The update is
    conditional on the old hash, so a concurrent ``lookout user passwd`` wins.
    """
    email = email.strip().lower()
    async with engine.connect() as conn:
        row = (await conn.execute(select(users.c.id, users.c.password_hash)
                                  .where(users.c.email == email))).first()
    stored = row.password_hash if row else _DUMMY_HASH
    ok = await _in_pool(hash_threads, verify_password, password, stored)
    if not (row and ok):
        return None
    if needs_rehash(stored):
        fresh = await _in_pool(hash_threads, hash_password, password)
        async with engine.begin() as conn:
            await conn.execute(update(users).where(users.c.id == row.id,
                                                   users.c.password_hash == stored)
                               .values(password_hash=fresh))
    return row.id  # type: ignore[no-any-return]
