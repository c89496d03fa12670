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


async def test_0814_matches_the_model_ends_bad_silences_and_downgrades(engine):
    """slack_replays as migrated is what rules.tables declares; silences stored with NaN or
    far-future times (before they were checked) are ended at their creation time."""
    import math

    from alembic import command
    from alembic.autogenerate import compare_metadata
    from sqlalchemy import insert, select

    from lookout.migrate import alembic_config
    from rules import tables as t

    bad = [(100.0, 1e15), (1e15, 1e15 + 60)]
    if engine.dialect.name == "postgresql":  # SQLite cannot store NaN
        bad += [(100.0, math.nan), (math.nan, math.nan), (100.0, math.inf)]

    def diff(conn) -> list:
        context = MigrationContext.configure(conn)
        return [d for d in compare_metadata(context, metadata) if "slack_replays" in repr(d)]

    def round_trip(conn) -> tuple[bool, list]:
        command.downgrade(alembic_config(conn), "0701")
        gone = "slack_replays" not in inspect(conn).get_table_names()
        for starts, ends in [(100.0, 200.0), *bad]:
            conn.execute(insert(t.silences).values(
                matchers="{}", starts_at=starts, ends_at=ends, created_by="old", comment="",
                created_at=50.0))
        command.upgrade(alembic_config(conn), "head")
        rows = conn.execute(select(t.silences.c.starts_at, t.silences.c.ends_at)
                            .order_by(t.silences.c.id)).all()
        return gone, [tuple(r) for r in rows]

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        gone, rows = await conn.run_sync(round_trip)
        await conn.commit()
    assert gone
    assert rows == [(100.0, 200.0)] + [(50.0, 50.0)] * len(bad)


async def test_0818_keeps_existing_projects_on_grouping_version_1(engine):
    """Projects made before grouping versions keep version 1; new ones get the latest."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from sqlalchemy import text

    from collector.grouping import LATEST_VERSION
    from lookout.migrate import alembic_config
    from lookout.projects import create_project

    def diff(conn) -> list:
        context = MigrationContext.configure(conn)
        return [d for d in compare_metadata(context, metadata)
                if "issue_hashes" in repr(d) or "grouping_" in repr(d)]

    def old_project_then_upgrade(conn) -> list:
        command.downgrade(alembic_config(conn), "0701")
        assert "issue_hashes" not in inspect(conn).get_table_names()
        conn.execute(text("INSERT INTO projects (name, created_at) VALUES ('old', 0)"))
        command.upgrade(alembic_config(conn), "head")
        return list(conn.execute(text(
            "SELECT grouping_version, grouping_fallback_until FROM projects WHERE name = 'old'")))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert [tuple(r) for r in await conn.run_sync(old_project_then_upgrade)] == [(1, None)]
        await conn.commit()
    new = await create_project(engine, "new")
    async with engine.connect() as conn:
        version = (await conn.execute(text(
            f"SELECT grouping_version FROM projects WHERE id = {new.id}"))).scalar_one()
    assert version == LATEST_VERSION == 3


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


async def test_0821_matches_the_model_and_downgrades(engine):
    """project_retention as migrated is what lookout.tables declares; 0821 undoes cleanly."""
    from alembic import command
    from alembic.autogenerate import compare_metadata

    from lookout.migrate import alembic_config

    def diff(conn) -> list:
        context = MigrationContext.configure(conn)
        return [d for d in compare_metadata(context, metadata) if "project_retention" in repr(d)]

    def downgrade_then_upgrade(conn) -> tuple[bool, bool]:
        command.downgrade(alembic_config(conn), "0822")
        gone = "project_retention" not in inspect(conn).get_table_names()
        command.upgrade(alembic_config(conn), "head")
        return gone, "project_retention" in inspect(conn).get_table_names()

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert await conn.run_sync(downgrade_then_upgrade) == (True, True)
        await conn.commit()


async def test_0823_0824_match_the_model_and_downgrade(engine):
    """alerts.escalated_at (0823) and the assignee (0824) as migrated are what rules.tables
    declares; both undo cleanly."""
    from alembic import command
    from alembic.autogenerate import compare_metadata

    from lookout.migrate import alembic_config

    def diff(conn) -> list:
        context = MigrationContext.configure(conn)
        return [d for d in compare_metadata(context, metadata)
                if "escalated_at" in repr(d) or "assigned_" in repr(d)]

    def columns(conn) -> set[str]:
        return {c["name"] for c in inspect(conn).get_columns("alerts")}

    new = {"escalated_at", "assigned_to", "assigned_slack_id"}

    def downgrade_then_upgrade(conn) -> tuple[bool, bool]:
        command.downgrade(alembic_config(conn), "0821")
        gone = not new & columns(conn)
        command.upgrade(alembic_config(conn), "head")
        return gone, new <= columns(conn)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert await conn.run_sync(downgrade_then_upgrade) == (True, True)
        await conn.commit()
