"""Small persisted facts about the installation (the generated secret key)."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from lookout.tables import meta


async def get_or_create(engine: AsyncEngine, key: str, make: str) -> str:
    """Return the stored value for ``key``, storing ``make`` first if there is none.

    Race-safe across instances: the first writer wins and everyone reads it back.
    """
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    async with engine.begin() as conn:
        await conn.execute(insert(meta).values(key=key, value=make).on_conflict_do_nothing())
        return (await conn.execute(select(meta.c.value).where(meta.c.key == key))).scalar_one()


async def secret_key(engine: AsyncEngine) -> str:
    return await get_or_create(engine, "secret_key", secrets.token_urlsafe(48))
