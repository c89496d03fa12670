"""The replay memory: one claim per signature on any connection, expired rows pruned."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from rules import replay
from rules import tables as t

SIG = "v0=" + "a" * 64


async def rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(t.slack_replays)))
                   .scalar_one())


async def test_a_signature_is_claimed_once(engine: AsyncEngine) -> None:
    assert await replay.claim(engine, SIG, 1300.0, 1000.0)
    assert not await replay.claim(engine, SIG, 1300.0, 1001.0)
    assert await replay.claim(engine, "v0=" + "b" * 64, 1300.0, 1001.0)


async def test_concurrent_claims_have_one_winner(engine: AsyncEngine) -> None:
    results = await asyncio.gather(*(replay.claim(engine, SIG, 1300.0, 1000.0)
                                     for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_expired_signatures_are_pruned(engine: AsyncEngine) -> None:
    for n in range(5):
        assert await replay.claim(engine, f"v0={n:064d}", 1300.0 + n, 1000.0)
    assert await rows(engine) == 5
    assert await replay.claim(engine, SIG, 1700.0, 1302.5)  # three have expired by now
    assert await rows(engine) == 3
