"""Replay memory for signed Slack callbacks, kept in the database.

A validly signed request can be captured and sent again while its timestamp
is still fresh (5 minutes). Remembering accepted signatures in the process
was lost on restart and not shared between instances, so a replayed
"Silence 1h" could add a second silence. Here the claim is an insert that
conflicts on the signature (the primary key): exactly one request, on any
instance, wins it. Rows are useless once their timestamp is too old to pass
verification, so each claim first deletes the expired ones; the table never
holds more than the last few minutes of clicks.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from rules import tables as t
from rules.store import insert_ignore


async def claim(engine: AsyncEngine, signature: str, expires_at: float, now: float) -> bool:
    """True for the first request carrying ``signature``; False for a replay."""
    c = t.slack_replays.c
    async with engine.begin() as conn:
        await conn.execute(delete(t.slack_replays).where(c.expires_at < now))
        result = await conn.execute(insert_ignore(conn, t.slack_replays).values(
            signature=signature, expires_at=expires_at))
        return result.rowcount == 1
