"""Login throttling per (email, client address) and per address, in the database.

Every attempt first *reserves* a row (email, address, time) in its own
committed transaction, and only then counts: the rows of its (email, address)
pair and the distinct emails of its address inside the window. Because each
attempt counts after its own row is committed, the k-th attempt to commit
sees at least k rows, so however many guesses arrive at once, on one
instance or several, at most ``max_failures`` of them get their password
checked. (Reading the count first and writing the failure after the slow
password check let 40 concurrent guesses all be checked.)

A refused attempt deletes its reservation, so hammering a locked pair does
not extend the lock; a checked attempt that fails leaves its row as the
failure record; a successful one deletes its pair's rows up to its own.

Keying on the pair stops guessing against one account without letting a
third party lock a user out from everywhere. The per-address cap on distinct
emails stops password spraying (one password against many accounts), which
the pair limit alone allows: an address that has tried ``max_emails`` emails
without success may keep trying those, but no new one, until its oldest
attempt leaves the window.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

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


async def reserve(engine: AsyncEngine, email: str, ip: str, now: float,
                  limits: LoginLimits) -> Reservation:
    """Count this attempt; its password may be checked only if ``id`` is set."""
    cutoff = now - limits.window
    async with engine.begin() as conn:
        await conn.execute(delete(attempts).where(attempts.c.ts <= cutoff))
        result = await conn.execute(attempts.insert().values(
            email=email[:EMAIL_CHARS], ip=ip[:IP_CHARS], ts=now))
        row_id = int(result.inserted_primary_key[0])
    recent = attempts.c.ts > cutoff
    pair = select(func.count(), func.min(attempts.c.ts)).where(_pair(email, ip), recent)
    spread = (select(func.count(func.distinct(attempts.c.email)), func.min(attempts.c.ts))
              .where(attempts.c.ip == ip[:IP_CHARS], recent))
    async with engine.connect() as conn:
        pair_count, pair_oldest = (await conn.execute(pair)).one()
        emails, ip_oldest = (await conn.execute(spread)).one()
    if pair_count <= limits.max_failures and emails <= limits.max_emails:
        return Reservation(row_id)
    async with engine.begin() as conn:
        await conn.execute(delete(attempts).where(attempts.c.id == row_id))
    if pair_count > limits.max_failures:
        return Reservation(None, _wait(pair_oldest, now, limits), "failures")
    return Reservation(None, _wait(ip_oldest, now, limits), "emails")


async def succeeded(engine: AsyncEngine, email: str, ip: str, reservation: Reservation) -> None:
    """A checked attempt was right: forget the pair's failures up to it.

    Attempts reserved after it stay counted, so a success cannot reopen the
    door for guesses already in flight from the same address.
    """
    async with engine.begin() as conn:
        await conn.execute(delete(attempts).where(_pair(email, ip),
                                                  attempts.c.id <= (reservation.id or 0)))
