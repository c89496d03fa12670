"""What full-text indexing costs at ingest: the writer's own path with and without it.

Writes the same log batches (50,000 rows per transaction) through
``collector.store.write_rows`` into two fresh databases in the same run: one
migrated normally (FTS5 trigram triggers on SQLite / pg_trgm GIN index on
PostgreSQL), one with those objects dropped (the baseline). Prints rows/s and
the ratio.

    .venv/bin/python bench/fts_ingest.py --db sqlite
    .venv/bin/python bench/fts_ingest.py --db postgres
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search import generate
from collector.normalize import RowBatch
from collector.store import write_rows
from lookout.db import create_engine
from lookout.migrate import upgrade

DROP_SQLITE = ["DROP TRIGGER logs_fts_insert", "DROP TRIGGER logs_fts_delete",
               "DROP TRIGGER logs_fts_update", "DROP TABLE logs_fts"]
DROP_PG = ["DROP INDEX ix_logs_message_trgm"]


async def _pg_db(base: str, name: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(base)
    admin = await asyncpg.connect(user=u.username, host=u.host, port=u.port or 5432,
                                  database="postgres", password=u.password)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return u.set(database=name).render_as_string(hide_password=False)


async def run_once(url: str, indexed: bool, batches: list[RowBatch]) -> float:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        if not indexed:
            async with engine.begin() as conn:
                for sql in DROP_PG if engine.dialect.name == "postgresql" else DROP_SQLITE:
                    await conn.exec_driver_sql(sql)
        started = time.perf_counter()
        for batch in batches:
            async with engine.begin() as conn:
                await write_rows(conn, batch)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--logs", type=int, default=400_000)
    ap.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    batches = [RowBatch(logs=logs) for logs, _reqs in generate(args.logs, time.time())]
    rows = sum(len(b.logs) for b in batches)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for indexed in (False, True, False, True):  # interleaved: drift hits both alike
            if args.db == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp}/fts-{indexed}-{time.monotonic_ns()}.db"
            else:
                url = await _pg_db(args.pg_url, f"lookout_bench_fts_{int(indexed)}")
            seconds = await run_once(url, indexed, batches)
            results.setdefault(indexed, []).append(seconds)
    base, fts = min(results[False]), min(results[True])
    print(f"{args.db}: {rows:,} logs in {len(batches)} write transactions (best of 2)")
    print(f"  without full-text index: {rows / base:10,.0f} logs/s")
    print(f"  with full-text index:    {rows / fts:10,.0f} logs/s   ({fts / base:.2f}x the time)")


if __name__ == "__main__":
    asyncio.run(main())
