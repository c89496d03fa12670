"""Rule engine benchmark: tick time for 1,000 rules over 200 services, and detection latency.

Usage:
    .venv/bin/python bench/rules.py [--days 30] [--services 200] [--rules 1000]
        [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/lookout_bench_rules] [--skip-sqlite]

For each database it fills ``--days`` of per-minute rollups (requests, one
histogram metric and logs for every service: services x minutes rows per
table), loads ``--rules`` rules (error_rate, metric p95, log_count, absence,
each filtered to one service; 5% of the services breach), then measures:

- one full tick (evaluate all rules + apply state + write outbox rows),
  median of ``--ticks`` ticks, against a baseline measured in the same run:
  one pass over the same rules with one query per rule (no shared per-tick reads);
- detection latency with ``LOOKOUT_EVAL_INTERVAL=1``: the real scheduler and
  Slack sender run; a service starts failing (rows written through the
  collector's write path) and we time until the Slack mimic receives
  ``chat.postMessage``. Target: <= ``for`` (0 here) + 2 x interval.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.engine import make_url

from collector import tables as ct
from collector.buckets import COLUMNS as BUCKETS
from collector.normalize import RowBatch
from collector.store import write_rows
from lookout.db import create_engine
from lookout.jobs import Jobs
from lookout.migrate import upgrade
from lookout.settings import Settings
from rules.config import parse_rules
from rules.engine import Evaluator, RuleSet
from rules.evaluate import TickData, evaluate
from rules.runtime import Alerting
from rules.store import AlertStore
from tests.support.slack_server import SlackServer

CHUNK = 20_000


def rules_yaml(n_rules: int, n_services: int) -> str:
    lines = ["rules:"]
    for i in range(n_rules):
        svc = f"svc{i % n_services:03d}"
        kind = ("error_rate", "error_rate", "metric", "log_count", "absence")[i % 5]
        lines += [f"  - name: r{i:04d}", f"    kind: {kind}", f"    service: {svc}"]
        if kind == "error_rate":
            lines += [f"    window: {(5, 10, 15)[i % 3]}m", "    for: 2m",
                      "    thresholds: {warning: 0.02, critical: 0.05}", "    min_requests: 20"]
        elif kind == "metric":
            lines += ["    metric: db.query_ms", f"    aggregate: {('p95', 'avg')[i % 2]}",
                      "    window: 5m", "    thresholds: {warning: 200, critical: 500}"]
        elif kind == "log_count":
            lines += ['    query: "level:error"', "    window: 5m",
                      "    thresholds: {warning: 50, critical: 200}"]
        else:
            lines += ["    window: 15m"]
    return "\n".join(lines) + "\n"


async def fill(url: str, days: int, n_services: int, now: float) -> float:
    """Write the rollups directly (as the writer's upserts would leave them)."""
    engine = create_engine(url)
    await upgrade(engine)
    start = time.perf_counter()
    first = (int(now) // 60 - days * 1440) * 60
    minutes = range(first, (int(now) // 60) * 60, 60)
    breaching = {f"svc{i:03d}" for i in range(0, n_services, 20)}
    zero_buckets = [0] * len(BUCKETS)
    req, met, logs = [], [], []

    async def flush(final: bool = False) -> None:
        for table, rows in ((ct.request_rollups, req), (ct.metric_rollups, met),
                            (ct.log_rollups, logs)):
            if rows and (final or len(rows) >= CHUNK):
                async with engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        raw = await conn.get_raw_connection()
                        await conn.exec_driver_sql("SELECT 1")
                        cols = list(rows[0].keys())
                        await raw.driver_connection.copy_records_to_table(
                            table.name, records=[tuple(r[c] for c in cols) for r in rows],
                            columns=cols)
                    else:
                        cols = list(rows[0].keys())
                        await conn.exec_driver_sql(
                            f"INSERT INTO {table.name} ({', '.join(cols)}) "
                            f"VALUES ({', '.join('?' * len(cols))})",
                            [tuple(r[c] for c in cols) for r in rows])
                rows.clear()

    recent = (int(now) // 60) * 60 - 600
    for minute in minutes:
        for i in range(n_services):
            svc = f"svc{i:03d}"
            bad = svc in breaching and minute >= recent
            b = list(zero_buckets)
            b[6] = 90
            b[8 if bad else 7] = 10
            req.append(dict(project_id=1, minute=minute, service=svc, environment="production",
                            route="/api", count=100, errors=10 if bad else 1,
                            duration_sum=3000.0, **dict(zip(BUCKETS, b))))
            met.append(dict(project_id=1, minute=minute, name="db.query_ms", service=svc,
                            environment="production", tags_hash="", tags="{}", kind="histogram",
                            count=100, sum=3000.0, min=1.0, max=900.0 if bad else 90.0,
                            last=30.0, **dict(zip(BUCKETS, b))))
            logs.append(dict(project_id=1, minute=minute, service=svc, environment="production",
                             level=40, count=300 if bad else 2))
        await flush()
    await flush(final=True)
    if engine.dialect.name == "postgresql":  # what autovacuum would do after a bulk load
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text("ANALYZE"))
    await engine.dispose()
    return time.perf_counter() - start


async def tick_times(url: str, rules_text: str, now: float,
                     ticks: int) -> tuple[list[float], float]:
    engine = create_engine(url)
    ruleset = RuleSet(parse_rules(rules_text))
    clock = [now - ticks]
    evaluator = Evaluator(AlertStore(engine), ruleset, interval=1, default_channel="#b",
                          notify=True, clock=lambda: clock[0])
    full = []
    for _ in range(ticks):
        clock[0] += 1
        result = await evaluator.tick()
        assert result is not None and not result.failed, result
        full.append(result.seconds)
    started = time.perf_counter()
    for rule in ruleset.rules:  # one query per rule: what the memoised tick avoids
        await evaluate(rule, TickData(engine, clock[0]))
    baseline = time.perf_counter() - started
    await engine.dispose()
    return full, baseline


async def detection(url: str, rules_text: str, trials: int) -> list[float]:
    slack = SlackServer().start()
    engine = create_engine(url)
    settings = Settings(database_url=url, slack_bot_token="xoxb-bench", slack_channel="#b",
                        slack_api_url=slack.api_url, eval_interval=1.0)
    alerting = Alerting(settings, engine)
    extra = "".join(f"""
  - name: detect{i}
    kind: error_rate
    service: fresh{i}
    window: 1m
    for: 0s
    thresholds: {{critical: 0.05}}
""" for i in range(trials))
    alerting.ruleset.rules = parse_rules(rules_text + extra)
    scheduler = AsyncIOScheduler()
    jobs = Jobs(scheduler)
    await alerting.start(jobs, background_jobs=True)
    scheduler.start()
    latencies = []
    try:
        for i in range(trials):
            before = len(slack.posts())
            await asyncio.sleep(0.37)  # land at different phases of the 1 s interval
            ts = time.time()
            rows = [(1, ts, ts, f"fresh{i}", "production", "", "", f"q{j}", None, "{}", "GET",
                     "/x", 500 if j < 50 else 200, 5.0, False) for j in range(100)]
            async with engine.begin() as conn:
                await write_rows(conn, RowBatch(requests=rows))
            breach = time.time()
            deadline = breach + 30
            while time.time() < deadline:
                posts = [p for p in slack.posts()[before:]
                         if p.params["text"].startswith(f"[CRITICAL] detect{i} ")]
                if posts:
                    latencies.append(posts[0].at - breach)
                    break
                await asyncio.sleep(0.01)
            else:
                raise RuntimeError(f"no Slack post for trial {i} within 30 s")
    finally:
        await alerting.stop()
        await jobs.stop(10.0)
        await engine.dispose()
        slack.stop()
    return latencies


async def run_one(label: str, url: str, args: argparse.Namespace) -> None:
    now = time.time()
    seconds = await fill(url, args.days, args.services, now)
    rows = args.days * 1440 * args.services
    print(f"[{label}] filled {rows:,} rows per rollup table ({args.days} days x "
          f"{args.services} services) in {seconds:.0f} s")
    rules_text = rules_yaml(args.rules, args.services)
    # Tick at the end of the filled data (the fill takes minutes), so windows hold data.
    full, baseline = await tick_times(url, rules_text, now, args.ticks)
    med, base = statistics.median(full), baseline
    print(f"[{label}] tick, {args.rules} rules: median {med * 1000:.0f} ms, max "
          f"{max(full) * 1000:.0f} ms (target <= 1000 ms)")
    print(f"[{label}] baseline, same rules with one query per rule: {base * 1000:.0f} ms "
          f"-> tick is {base / med:.1f}x faster")
    latencies = await detection(url, rules_text, args.trials)
    print(f"[{label}] detection latency, LOOKOUT_EVAL_INTERVAL=1, for=0: median "
          f"{statistics.median(latencies):.2f} s, max {max(latencies):.2f} s over "
          f"{len(latencies)} breaches (target <= 2.00 s)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=7)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("LOOKOUT_BENCH_PG_URL"))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            await run_one("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", args)
    if args.pg:
        import asyncpg

        u = make_url(args.pg)
        admin = await asyncpg.connect(user=u.username or "postgres", host=u.host or "127.0.0.1",
                                      port=u.port or 5432, database="postgres",
                                      password=u.password)
        await admin.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{u.database}"')
        try:
            await run_one("postgresql", args.pg, args)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
