"""Login throttling per (email, client address) and per address, in the database.

Every attempt *reserves* a row (email, address, time) before its password is
checked, in one transaction that first counts the rows of its (email,
address) pair and the distinct emails of its address inside the window.
These transactions are serialized per address (an advisory lock on
PostgreSQL, the write lock on SQLite), so however many guesses arrive at
once, on one instance or several, exactly ``max_failures`` of them get their
password checked. (Reading the count, then running scrypt, then writing the
failure let 40 concurrent guesses all be checked.)

A refused attempt stores nothing, so hammering a locked pair does not extend
the lock; a checked attempt that fails leaves its row as the failure record;
a successful one deletes its pair's rows up to its own.

Keying on the pair stops guessing against one account without letting a
third party lock a user out from everywhere. The per-address cap on distinct
emails stops password spraying (one password against many accounts), which
the pair limit alone allows: an address that has tried ``max_emails`` emails
without success may keep trying those, but no new one, until its oldest
attempt leaves the window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lookout.settings import Settings
from web.tables import login_failures as attempts

EMAIL_CHARS = 320
IP_CHARS = 64


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The settings ``LOOKOUT_LOGIN_MAX_FAILURES``, ``_MAX_EMAILS`` and ``_WINDOW``."""

    max_failures: int = 5
    max_emails: int = 10
    window: float = 15 * 60

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(settings.login_max_failures, settings.login_max_emails,
                   settings.login_window)


@dataclass(frozen=True, slots=True)
class Reservation:
    """The outcome of :func:`reserve`: a row id to settle, or seconds to wait."""

    id: int | None
    retry_after: int | None = None
    reason: str = ""  # "failures" or "emails" when refused


def _pair(email: str, ip: str):  # type: ignore[no-untyped-def]
    return and_(attempts.c.email == email[:EMAIL_CHARS], attempts.c.ip == ip[:IP_CHARS])


def _wait(oldest: float | None, now: float, limits: LoginLimits) -> int:
    return max(1, int((oldest or now) + limits.window - now) + 1)


def _lock_key(ip: str) -> int:
    """A signed 64-bit key naming ``ip`` for PostgreSQL's advisory locks."""
    return int.from_bytes(hashlib.sha256(ip.encode()).digest()[:8], "big", signed=True)


async def _serialize(conn: AsyncConnection, ip: str) -> None:
    """Make the rest of this transaction the only one deciding for ``ip``, on every instance.

    PostgreSQL: a transaction-scoped advisory lock per address (released at
    commit). SQLite: the transaction's first statement is a write, which takes
    the database's single write lock for the whole transaction.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(_lock_key(ip))))


async def reserve(engine: AsyncEngine, email: str, ip: str, now: float,
                  limits: LoginLimits) -> Reservation:
    """Count this attempt; its password may be checked only if ``id`` is set.

    Check and reservation happen in one transaction serialized per address
    (:func:`_serialize`), so concurrent attempts are counted one after the
    other: exactly ``max_failures`` of a burst are let through, never more.
    """
    email, ip = email[:EMAIL_CHARS], ip[:IP_CHARS]
    cutoff = now - limits.window
    recent = attempts.c.ts > cutoff
    async with engine.begin() as conn:
        await _serialize(conn, ip)
        await conn.execute(delete(attempts).where(attempts.c.ts <= cutoff))
        pair_count, pair_oldest = (await conn.execute(
            select(func.count(), func.min(attempts.c.ts)).where(_pair(email, ip), recent))).one()
        if pair_count >= limits.max_failures:
            return Reservation(None, _wait(pair_oldest, now, limits), "failures")
        if pair_count == 0:  # a new email for this address: is it one too many?
            emails, ip_oldest = (await conn.execute(
                select(func.count(func.distinct(attempts.c.email)), func.min(attempts.c.ts))
                .where(attempts.c.ip == ip, recent))).one()
            if emails >= limits.max_emails:
                return Reservation(None, _wait(ip_oldest, now, limits), "emails")
        result = await conn.execute(attempts.insert().values(email=email, ip=ip, ts=now))
        return Reservation(int(result.inserted_primary_key[0]))


async def succeeded(engine: AsyncEngine, email: str, ip: str, reservation: Reservation) -> None:
    """A checked attempt was right: forget the pair's failures up to it.

    Attempts reserved after it stay counted, so a success cannot reopen the
    door for guesses already in flight from the same address.
    """
    async with engine.begin() as conn:
        await conn.execute(delete(attempts).where(_pair(email, ip),
                                                  attempts.c.id <= (reservation.id or 0)))
