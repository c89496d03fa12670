"""Login throttling per (email, client IP), stored in the database.

After ``MAX_FAILURES`` failed logins for the same email from the same address
within ``WINDOW_SECONDS``, further attempts are refused (429 with
Retry-After) until the oldest failure leaves the window. Keying on the pair
stops password guessing against one account without letting a third party
lock a user out from everywhere. Stored rows survive restarts and are shared
by every instance; a successful login clears the pair's failures.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from web.tables import login_failures

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


def _pair(email: str, ip: str):
    return and_(login_failures.c.email == email[:320], login_failures.c.ip == ip[:64])


async def retry_after(engine: AsyncEngine, email: str, ip: str, now: float) -> int | None:
    """Seconds until the pair may try again, or None when it may try now."""
    query = (select(func.count(), func.min(login_failures.c.ts))
             .where(_pair(email, ip), login_failures.c.ts > now - WINDOW_SECONDS))
    async with engine.connect() as conn:
        count, oldest = (await conn.execute(query)).one()
    if count < MAX_FAILURES:
        return None
    return max(1, int(oldest + WINDOW_SECONDS - now) + 1)


async def record_failure(engine: AsyncEngine, email: str, ip: str, now: float) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(login_failures).where(login_failures.c.ts < now - WINDOW_SECONDS))
        await conn.execute(login_failures.insert().values(email=email[:320], ip=ip[:64], ts=now))


async def clear_failures(engine: AsyncEngine, email: str, ip: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(login_failures).where(_pair(email, ip)))
