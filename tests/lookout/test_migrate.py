"""Migrations from empty on both databases, and two instances migrating at once."""

from __future__ import annotations

import asyncio

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from lookout.alltables import metadata
from lookout.db import create_engine
from lookout.migrate import current_heads, head_revisions, upgrade


async def _fresh_url(request, tmp_path, pg_databases) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    if pg_databases is None:
        pytest.skip("LOOKOUT_TEST_DATABASE_URL is not set; PostgreSQL tests skipped")
    import asyncpg  # an empty database, not cloned from the migrated template

    from tests.conftest import _pg_admin

    url = await pg_databases.create()
    name = url.rsplit("/", 1)[1]
    admin = await _pg_admin(url)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    request.addfinalizer(lambda: asyncio.run(pg_databases.drop(url)))
    assert asyncpg
    return url


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_url(request, tmp_path, pg_databases):
    return await _fresh_url(request, tmp_path, pg_databases)


async def test_upgrade_from_empty_creates_every_table(empty_url):
    engines = [create_engine(empty_url) for _ in range(2)]
    try:
        # Two instances starting at once: both succeed, the schema is created once.
        await asyncio.gather(*(upgrade(e) for e in engines))
        assert await current_heads(engines[0]) == head_revisions()
        async with engines[0].connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert set(metadata.tables) <= names
        await upgrade(engines[1])  # idempotent
    finally:
        for e in engines:
            await e.dispose()


async def test_0701_matches_the_model_and_downgrades(engine):
    """ingest_batches as migrated is what collector.tables declares; 0701 undoes cleanly."""
    from alembic import command
    from alembic.autogenerate import compare_metadata

    from lookout.migrate import alembic_config

    def diff(conn) -> list:
        context = MigrationContext.configure(conn)
        return [d for d in compare_metadata(context, metadata) if "ingest_batches" in repr(d)]

    def downgrade_then_upgrade(conn) -> tuple[bool, bool]:
        command.downgrade(alembic_config(conn), "0601")
        gone = "ingest_batches" not in inspect(conn).get_table_names()
        command.upgrade(alembic_config(conn), "head")
        return gone, "ingest_batches" in inspect(conn).get_table_names()

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert await conn.run_sync(downgrade_then_upgrade) == (True, True)
        await conn.commit()


async def test_0817_matches_the_model_and_downgrades(engine):
    """spans as migrated is what collector.tables declares; 0817 undoes cleanly."""
    from alembic import command
    from alembic.autogenerate import compare_metadata

    from lookout.migrate import alembic_config

    def diff(conn) -> list:
        context = MigrationContext.configure(conn)
        return [d for d in compare_metadata(context, metadata) if "'spans'" in repr(d)
                or "ix_spans" in repr(d)]

    def downgrade_then_upgrade(conn) -> tuple[bool, bool]:
        command.downgrade(alembic_config(conn), "0701")
        gone = "spans" not in inspect(conn).get_table_names()
        command.upgrade(alembic_config(conn), "head")
        return gone, "spans" in inspect(conn).get_table_names()

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert await conn.run_sync(downgrade_then_upgrade) == (True, True)
        await conn.commit()
