"""The per-alert delivery lease: only the sender holding it may call Slack for that alert.

A lease is ``alerts.send_owner`` / ``send_until``, taken by a conditional
UPDATE (free, expired, or already ours). It must never run out while its
holder is still talking to Slack, or another instance takes the alert over
and posts the same message again (seen with slack-sdk sleeping
``Retry-After`` three times inside one call, past a 120 s lease). So:

- :meth:`Lease.confirm` renews it (one conditional UPDATE) right before every
  Slack call and raises :class:`LeaseLost` if it is no longer ours: a sender
  that lost its lease makes no further call for that alert;
- while the lease is held, a background task renews it every third of its
  length, so a slow call (timeouts, retries of connection errors and 5xx)
  cannot outlive it either;
- 429s are not waited out inside a call at all (see the sender): the wait is
  recorded on the outbox row and the lease released.

Only a holder that stops renewing (a crashed or frozen instance) loses its
lease, after ``seconds`` without renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from rules import tables as t

log = logging.getLogger("lookout.slack")


class LeaseLost(Exception):
    """Another sender holds this alert's lease now: stop delivering it."""


class Lease:
    """One held lease on one alert (see :func:`hold`)."""

    def __init__(self, engine: AsyncEngine, alert_id: int, owner: str, seconds: float,
                 clock: Callable[[], float]) -> None:
        self.engine = engine
        self.alert_id = alert_id
        self.owner = owner
        self.seconds = seconds
        self.clock = clock

    async def renew(self) -> bool:
        """Extend the lease from now; False if it is no longer ours."""
        a = t.alerts.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.alerts).where(a.id == self.alert_id, a.send_owner == self.owner)
                .values(send_until=self.clock() + self.seconds))
            return result.rowcount == 1

    async def confirm(self) -> None:
        """Before a Slack call: renew, or raise :class:`LeaseLost`."""
        if not await self.renew():
            raise LeaseLost(f"alert {self.alert_id}: delivery lease taken over")

    async def keep_renewed(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                if not await self.renew():
                    return  # lost: the next confirm() stops the delivery
            except Exception as exc:  # noqa: BLE001 - e.g. database down; confirm() decides
                log.warning("slack delivery lease renewal failed",
                            extra={"alert_id": self.alert_id, "error": str(exc)[:300]})

    async def release(self) -> None:
        a = t.alerts.c
        async with self.engine.begin() as conn:
            await conn.execute(update(t.alerts).where(a.id == self.alert_id,
                                                      a.send_owner == self.owner)
                               .values(send_owner=None, send_until=None))


async def take(engine: AsyncEngine, alert_id: int, owner: str, seconds: float,
               clock: Callable[[], float]) -> Lease | None:
    """The lease on ``alert_id`` if it is free, expired or already ``owner``'s, else None."""
    a = t.alerts.c
    now = clock()
    async with engine.begin() as conn:
        result = await conn.execute(
            update(t.alerts).where(a.id == alert_id, or_(
                a.send_until.is_(None), a.send_until < now, a.send_owner == owner))
            .values(send_owner=owner, send_until=now + seconds))
    if result.rowcount != 1:
        return None
    return Lease(engine, alert_id, owner, seconds, clock)


@contextlib.asynccontextmanager
async def holding(lease: Lease) -> AsyncIterator[Lease]:
    """Keep ``lease`` renewed in the background while the body runs, then release it."""
    keeper = asyncio.create_task(lease.keep_renewed())
    try:
        yield lease
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await lease.release()
