"""Benchmark: the batch writer's transaction for groups of Sentry transactions (no HTTP).

    .venv/bin/python bench/span_writes.py [--sizes 8,30,100,1000] [--transactions 800]
                                          [--pg-url postgresql+asyncpg://postgres@127.0.0.1/]

The real ``sentry-sdk`` produces server transactions (as in ``bench/traces.py``:
an ``http.server`` transaction with one ``db.query`` child, so 2 spans + 1
request record + rollups + the envelope's batch id each); they are converted
by the collector's own code, then written by :class:`collector.writer.BatchWriter`
in groups of ``size`` transactions, one group after the other, on a fresh
PostgreSQL database. Each size is written twice in the same run, alternately
in rounds: with the one-statement plan of :mod:`collector.small_batch` and with
the general plan (BEGIN, claim, COPY per table, rollup upsert, COMMIT), so
the ratio between the two is what to read on a noisy machine.

Reported per size and plan: milliseconds per group (wall, includes the
commit's WAL flush) and client CPU µs per transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentry_ingest import LOOKOUT, _drop_pg, _pg_database
from traces import transaction_requests

from collector import normalize as n
from collector import small_batch
from collector.batch_ids import Answer
from collector.decode import decompress
from collector.sentry import routes
from collector.sentry.envelope import parse, payload_json
from collector.writer import BatchWriter, _Job
from lookout.db import create_engine

ROUNDS = 3


class _Services:
    limits = n.Limits()


def converted(count: int) -> list[tuple[n.RowBatch, tuple[int, str] | None]]:
    """``count`` SDK transactions as the envelope endpoint turns them into rows."""
    out = []
    for _, _, body in transaction_requests("http://k@127.0.0.1:9/1", count):
        envelope = parse(decompress(body, "br", 1 << 24))
        items = [(item, payload_json(item, i)) for i, item in enumerate(envelope.items)]
        rows = routes._convert(1, items, envelope.headers, time.time(), _Services, [])
        out.append((rows.rows, routes._retry_key(1, rows)))
    return out


async def write(writer: BatchWriter, jobs: list, size: int) -> tuple[float, float]:
    """Write ``jobs`` in groups of ``size``; (ms per group, CPU µs per transaction)."""
    loop = asyncio.get_running_loop()
    groups = len(jobs) // size
    wall, cpu = time.perf_counter(), time.process_time()
    for g in range(groups):
        group = [_Job(rows, key, Answer(len(rows)), None, loop.create_future())
                 for rows, key in jobs[g * size:(g + 1) * size]]
        await writer._write_group(group, sum(len(j.rows) for j in group))
        for job in group:
            job.done.result()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / groups * 1e3, cpu / (groups * size) * 1e6


async def run(url: str, sizes: list[int], per_write: int) -> None:
    counts = {size: max(size, per_write // size * size) for size in sizes}
    jobs = iter(converted(sum(counts.values()) * 2 * ROUNDS))  # fresh ids for every write
    engine = create_engine(url)
    writer = BatchWriter(engine)
    writer.start()  # so that stop() closes the connections it keeps
    print(f"{'group':>6} {'plan':>14} {'ms/group':>9} {'CPU us/tx':>10}")
    try:
        for size in sizes:
            results: dict[str, list[tuple[float, float]]] = {"one statement": [], "general": []}
            for _ in range(ROUNDS):
                for plan, limit in (("one statement", 1 << 30), ("general", -1)):
                    small_batch.MAX_ROWS = limit
                    part = [next(jobs) for _ in range(counts[size])]
                    results[plan].append(await write(writer, part, size))
            for plan, figures in results.items():
                ms = sorted(f[0] for f in figures)[ROUNDS // 2]
                us = sorted(f[1] for f in figures)[ROUNDS // 2]
                print(f"{size:6} {plan:>14} {ms:9.2f} {us:10.1f}")
    finally:
        await writer.stop()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,30,100,1000")
    parser.add_argument("--transactions", type=int, default=800,
                        help="transactions per size, plan and round (at least one group)")
    parser.add_argument("--pg-url", default=os.environ.get(
        "LOOKOUT_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    url, name = _pg_database(args.pg_url)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
            env["LOOKOUT_DATABASE_URL"] = url
            for command in (("migrate",), ("project", "create", "bench")):
                subprocess.run([LOOKOUT, *command], env=env, cwd=workdir, check=True,
                               capture_output=True, timeout=120)
            print(f"median of {ROUNDS} rounds, plans alternating; PostgreSQL")
            asyncio.run(run(url, sizes, args.transactions))
    finally:
        _drop_pg(args.pg_url, name)


if __name__ == "__main__":
    main()
