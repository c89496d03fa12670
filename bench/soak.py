"""Soak test: mixed traffic through nginx to two instances on PostgreSQL, for minutes.

    .venv/bin/python bench/soak.py [--minutes 10] [--instances 2]
        [--logs-per-sec 200] [--events-per-sec 50] [--searches-per-sec 5]
        [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Starts a fresh PostgreSQL database, ``--instances`` ``lookout serve``
processes on it and the real nginx in front (``deploy/nginx.conf`` via
tests/support/cluster.py), with a rules file of a few rules evaluated every
second (``LOOKOUT_EVAL_INTERVAL=1``) on every instance. Then, at fixed rates
(open loop: a slow answer does not slow the senders down):

- logs: SDK-like gzip'd batches of 20 log records to ``/api/{id}/ingest``,
  every record with its own request ID;
- events: error events serialized by the real ``sentry-sdk`` (its transport
  code compresses and builds the headers) to ``/api/{id}/envelope/``;
- searches: ``/api/v1/logs?q=...`` and ``/api/v1/requests/{id}`` (an ID
  acknowledged earlier) with a read token, alternating.

The point is stability, not peak throughput: the load is moderate. Reported:
throughput and p50/p99 latency per kind, rule ticks per instance (from each
instance's /metrics), the RSS of every instance every 10 s and a verdict on
whether it stays flat (after a warm-up of the first fifth of the run, the
last third's peak within 15 % of the first third's), error counts (non-2xx
answers and connection errors; must be 0) and stored-vs-sent counts of logs
and events (must be equal). Exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sentry_ingest import sdk_requests
from collector import tables
from lookout.db import create_engine
from tests.conftest import _pg_admin
from tests.support.cluster import Cluster, nginx_available

BATCH = 20
RSS_EVERY = 10.0
FLAT_TOLERANCE = 0.15
WORDS = ["checkout", "payment", "timeout", "inventory", "shipping", "refund", "login", "cart"]
LEVELS = ["debug", "info", "info", "info", "warning", "error"]
RULES = """\
rules:
  - name: soak-timeouts
    kind: log_count
    service: soak
    query: timeout
    window: 5m
    thresholds: {warning: 1000000}
  - name: soak-errors
    kind: log_count
    query: "level:error service:soak"
    window: 5m
    thresholds: {warning: 10, critical: 1000000}
  - name: soak-new-issue
    kind: new_issue
    window: 10m
  - name: soak-silence
    kind: absence
    service: soak
    window: 5m
"""


@dataclass
class Kind:
    """Outcomes of one kind of request."""

    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    records_acked: int = 0

    def errors(self, ok: int) -> dict[str, int]:
        return {k: v for k, v in self.statuses.items() if k != str(ok)}

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Soak:
    cluster: Cluster
    http: httpx.AsyncClient
    project_id: str
    key: str
    token: str
    envelopes: list[tuple[str, dict[str, str], bytes]]
    logs: Kind = field(default_factory=lambda: Kind("logs"))
    events: Kind = field(default_factory=lambda: Kind("events"))
    searches: Kind = field(default_factory=lambda: Kind("searches"))
    request_ids: list[str] = field(default_factory=list)
    pending: set[asyncio.Task[None]] = field(default_factory=set)

    async def _timed(self, kind: Kind, ok: int, records: int, method: str, path: str,
                     **kwargs: object) -> bool:
        start = time.perf_counter()
        try:
            resp = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            kind.statuses[type(exc).__name__] += 1
            return False
        kind.latencies.append(time.perf_counter() - start)
        kind.statuses[str(resp.status_code)] += 1
        if resp.status_code == ok:
            kind.records_acked += records
            return True
        return False

    async def send_logs(self, n: int) -> None:
        ids = [uuid.uuid4().hex for _ in range(BATCH)]
        body = {"resource": {"service": "soak", "environment": "soak", "host": "loadgen"},
                "logs": [{"message": f"{random.choice(WORDS)} step {n}.{i} took {i * 7} ms",
                          "level": random.choice(LEVELS), "request_id": rid,
                          "ts": time.time(), "logger": "soak.app",
                          "attributes": {"batch": n, "i": i}} for i, rid in enumerate(ids)]}
        if await self._timed(self.logs, 202, BATCH, "POST", f"/api/{self.project_id}/ingest",
                             content=gzip.compress(json.dumps(body).encode()),
                             headers={"X-Lookout-Key": self.key,
                                      "Content-Type": "application/json",
                                      "Content-Encoding": "gzip"}):
            self.request_ids.extend(ids)

    async def send_event(self, n: int) -> None:
        path, headers, body = self.envelopes[n]
        await self._timed(self.events, 200, 1, "POST", path, content=body, headers=headers)

    async def search(self, n: int) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        if n % 2 and self.request_ids:
            path = f"/api/v1/requests/{random.choice(self.request_ids)}"
            await self._timed(self.searches, 200, 0, "GET", path, headers=auth)
        else:
            params = {"q": random.choice(WORDS), "since": "15m", "limit": "50"}
            await self._timed(self.searches, 200, 0, "GET", "/api/v1/logs", params=params,
                              headers=auth)

    async def at_rate(self, per_second: float, seconds: float, send, limit: int | None = None):
        """Start ``send(n)`` every 1/per_second s without waiting for the previous one."""
        if per_second <= 0:
            return
        interval, start, n = 1.0 / per_second, time.monotonic(), 0
        while (due := start + n * interval) < start + seconds and (limit is None or n < limit):
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.create_task(send(n))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            n += 1


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")  # the process is gone
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


async def sample_rss(cluster: Cluster, series: list[tuple[float, list[float]]]) -> None:
    """Append every instance's RSS to ``series`` every RSS_EVERY s until cancelled."""
    start = time.monotonic()
    while True:
        series.append((time.monotonic() - start,
                       [rss_mb(i.process.pid) if i.process else float("nan")
                        for i in cluster.instances]))
        await asyncio.sleep(RSS_EVERY)


def flat_verdict(series: list[tuple[float, list[float]]], seconds: float) -> tuple[bool, str]:
    """Last third's peak within FLAT_TOLERANCE of the first third's, after the warm-up."""
    steady = [rss for t, rss in series if t >= seconds / 5]
    if len(steady) < 3:
        return False, "too few samples for a verdict (run longer)"
    third = len(steady) // 3
    verdicts = []
    ok = True
    for idx in range(len(steady[0])):
        first = max(s[idx] for s in steady[:third])
        last = max(s[idx] for s in steady[-third:])
        grew = last / first - 1
        ok &= grew <= FLAT_TOLERANCE
        verdicts.append(f"instance {idx}: first third peak {first:.0f} MB, "
                        f"last third peak {last:.0f} MB ({grew:+.1%})")
    return ok, "; ".join(verdicts)


def tick_stats(instance_url: str) -> tuple[int, float]:
    """Rule ticks done and their mean seconds, from the instance's /metrics."""
    with urllib.request.urlopen(instance_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    count = re.search(r"^lookout_rule_tick_seconds_count (\S+)$", text, re.MULTILINE)
    total = re.search(r"^lookout_rule_tick_seconds_sum (\S+)$", text, re.MULTILINE)
    n = int(float(count.group(1))) if count else 0
    return n, (float(total.group(1)) / n if n and total else float("nan"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Stored:
    logs: int
    events: int
    logs_bytes: int
    errors_bytes: int


async def stored(db_url: str, project_id: int) -> Stored:
    """Rows stored for the project, and the on-disk size of their tables with indexes."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            logs = await conn.scalar(select(func.count()).select_from(tables.logs)
                                     .where(tables.logs.c.project_id == project_id))
            events = await conn.scalar(select(func.count()).select_from(tables.errors)
                                       .where(tables.errors.c.project_id == project_id))
            sizes = (await conn.execute(text(
                "SELECT pg_total_relation_size('logs'), pg_total_relation_size('errors')"))).one()
    finally:
        await engine.dispose()
    return Stored(int(logs or 0), int(events or 0), int(sizes[0]), int(sizes[1]))


async def run(args: argparse.Namespace, workdir: Path, db_url: str) -> bool:
    seconds = args.minutes * 60
    rules = workdir / "rules.yml"
    rules.write_text(RULES)
    cluster = Cluster(workdir, db_url, n=args.instances,
                      env={"LOOKOUT_RULES_FILE": str(rules), "LOOKOUT_EVAL_INTERVAL": "1"})
    with cluster:
        dsn = urlsplit(cluster.create_project("soak"))
        token = cluster.create_token()
        n_events = int(args.events_per_sec * seconds) + 1
        print(f"generating {n_events:,} envelopes with sentry-sdk...", flush=True)
        envelopes = sdk_requests(dsn.geturl(), n_events)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=cluster.url, timeout=60, limits=limits) as http:
            soak = Soak(cluster, http, dsn.path.strip("/"), dsn.username or "", token, envelopes)
            rss: list[tuple[float, list[float]]] = []
            print(f"running {args.minutes:g} min...", flush=True)
            cpu_before = [cpu_seconds(i.process.pid) if i.process else float("nan")
                          for i in cluster.instances]
            started = time.monotonic()
            sampler = asyncio.create_task(sample_rss(cluster, rss))
            await asyncio.gather(
                soak.at_rate(args.logs_per_sec / BATCH, seconds, soak.send_logs),
                soak.at_rate(args.events_per_sec, seconds, soak.send_event, len(envelopes)),
                soak.at_rate(args.searches_per_sec, seconds, soak.search))
            await asyncio.gather(*list(soak.pending))
            elapsed = time.monotonic() - started
            sampler.cancel()
            rss.append((elapsed, [rss_mb(i.process.pid) if i.process else float("nan")
                                  for i in cluster.instances]))
        ticks = [tick_stats(i.url) for i in cluster.instances]
        cpu = [(cpu_seconds(i.process.pid) if i.process else float("nan")) - before
               for i, before in zip(cluster.instances, cpu_before, strict=True)]
        died = [i for i, inst in enumerate(cluster.instances)
                if inst.process is None or inst.process.poll() is not None]
    return report(args, soak, elapsed, ticks, cpu, rss, died,
                  await stored(db_url, int(soak.project_id)))


def report(args: argparse.Namespace, soak: Soak, elapsed: float, ticks: list[tuple[int, float]],
           cpu: list[float], rss: list[tuple[float, list[float]]], died: list[int],
           db: Stored) -> bool:
    print(f"\n{args.minutes:g} min through nginx -> {args.instances} instances on PostgreSQL; "
          f"target {args.logs_per_sec:g} log records/s, {args.events_per_sec:g} events/s, "
          f"{args.searches_per_sec:g} searches/s\n")
    print(f"  {'kind':9} {'requests':>9} {'req/s':>7} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for kind in (soak.logs, soak.events, soak.searches):
        n = sum(kind.statuses.values())
        per_s = f"{kind.records_acked / elapsed:10,.1f}" if kind.records_acked else f"{'':10}"
        print(f"  {kind.name:9} {n:9,} {n / elapsed:7.1f} {per_s} "
              f"{kind.percentile(0.5):8.1f} {kind.percentile(0.99):8.1f}")
    # Each tick slot is claimed by one instance (docs/rules.md), so together they
    # tick about once per LOOKOUT_EVAL_INTERVAL (1 s), not once each.
    total_ticks = sum(count for count, _ in ticks)
    print(f"  rule ticks {total_ticks:,} ({total_ticks / elapsed:.2f}/s, 4 rules): "
          + ", ".join(f"instance {idx} {count:,}"
                      + (f" (mean {mean * 1000:.0f} ms)" if count else "")
                      for idx, (count, mean) in enumerate(ticks)))

    print("  server CPU (user+system during the load): "
          + ", ".join(f"instance {i} {c:.1f} s ({c / elapsed:.0%} of a core)"
                      for i, c in enumerate(cpu)))
    if db.logs and db.events:
        print(f"  on disk with indexes: {db.logs_bytes / db.logs:.0f} B per log record, "
              f"{db.errors_bytes / db.events:.0f} B per error event")

    print("\n  RSS (MB) every ~10 s:")
    for t, values in rss:
        print(f"    t={t:5.0f}s  " + "  ".join(f"i{i}={v:6.1f}" for i, v in enumerate(values)))
    flat, why = flat_verdict(rss, elapsed)
    print(f"  memory: {'FLAT' if flat else 'NOT FLAT'} ({why})")

    errors = {"logs": soak.logs.errors(202), "events": soak.events.errors(200),
              "searches": soak.searches.errors(200)}
    n_errors = sum(sum(e.values()) for e in errors.values())
    print(f"  errors: {n_errors} {errors if n_errors else ''}".rstrip()
          + (f"; instances that died: {died}" if died else ""))
    same = (db.logs, db.events) == (soak.logs.records_acked, soak.events.records_acked)
    print(f"  stored vs sent: logs {db.logs:,} / {soak.logs.records_acked:,}, "
          f"events {db.events:,} / {soak.events.records_acked:,} "
          f"({'equal' if same else 'DIFFERENT'})")
    ok = flat and n_errors == 0 and not died and same
    print(f"\n  verdict: {'PASS' if ok else 'FAIL'}")
    return ok


async def main_async(args: argparse.Namespace) -> bool:
    name = f"lookout_soak_{uuid.uuid4().hex[:8]}"
    admin = await _pg_admin(args.pg_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    db_url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        with TemporaryDirectory(prefix="lookout-soak-") as tmp:
            return await run(args, Path(tmp), db_url)
    finally:
        admin = await _pg_admin(args.pg_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--logs-per-sec", type=float, default=200)
    parser.add_argument("--events-per-sec", type=float, default=50)
    parser.add_argument("--searches-per-sec", type=float, default=5)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
                        help="server to create the soak database on (dropped afterwards)")
    args = parser.parse_args()
    if not nginx_available():
        parser.error("nginx is not installed (/usr/sbin/nginx); apt-get install nginx")
    return 0 if asyncio.run(main_async(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
