"""Search benchmark: request-ID lookup and filtered text search on millions of logs.

Loads N log records (default 5,000,000; 10 services, realistic messages over
the last 7 days), one request record per request (about N/5) and a few
errors straight into the database (bulk: COPY on PostgreSQL, executemany on
SQLite; the full-text index is maintained as in production: FTS5 triggers,
GIN index), starts a real ``lookout serve`` on it, then reports p50/p99 of:

- ``GET /api/v1/requests/{id}`` over HTTP, beside the raw SQL index lookup
  for the same request IDs (the same three SELECTs on a direct connection,
  no app, no HTTP, no JSON) measured in the same run: the ratio is the cost
  of the app around the index lookup;
- a filtered text search over the last hour, ``GET /api/v1/logs?q=timeout&
  service=checkout&since=1h``, and the same with a rarer term over 24 hours;
- the search page for the last hour, and for a common word over 7 days
  (its count stops at 10,000).

Usage::

    .venv/bin/python bench/search.py --db sqlite
    .venv/bin/python bench/search.py --db postgres \\
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/lookout_bench_search

Loaded databases are kept (``--fresh`` reloads): under ``bench/results/``
for SQLite, the named database for PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sqlite3
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lookout.db import create_engine
from lookout.migrate import upgrade
from tests.support.server import start_server

SERVICES = ["gateway", "checkout", "payments", "inventory", "users", "search", "email",
            "shipping", "recommendations", "billing"]
ROUTES = ["/api/orders/{id}", "/api/cart", "/api/users/{id}", "/api/search", "/api/checkout",
          "/healthz", "/api/products/{id}", "/api/payments"]
TEMPLATES = [
    "{method} {route} completed in {ms} ms",
    "cache miss for key user:{n}",
    "payment authorized for order {n} amount {amount} EUR",
    "timeout talking to {svc} after {ms}ms",
    "retrying {op} (attempt {a}/3)",
    "user {uid} logged in from {ip}",
    "db query took {ms}ms: SELECT * FROM orders WHERE id = {n}",
    "published event order.created id={n}",
    "rendered template product_page in {ms}ms",
    "connection pool exhausted, waiting for a free connection",
    "inventory reserved sku-{n} qty {a}",
    "sending email template=welcome to user {uid}",
    "feature flag new_checkout evaluated to {flag}",
    "rate limit check passed for client {n}",
    "queue depth {n} above soft limit",
    "card declined: insufficient funds for order {n}",
]
LEVELS = [20] * 80 + [10] * 8 + [30] * 8 + [40] * 4
SPAN = 7 * 86400
LOG_COLUMNS = ("project_id", "ts", "received_at", "service", "environment", "release", "host",
               "request_id", "trace_id", "attributes", "level", "logger", "message")
REQ_COLUMNS = ("project_id", "ts", "received_at", "service", "environment", "release", "host",
               "request_id", "trace_id", "attributes", "method", "route", "status",
               "duration_ms", "unhandled")


def message(rng: random.Random, svc: str) -> str:
    tpl = rng.choice(TEMPLATES)
    return tpl.format(method=rng.choice(["GET", "POST", "PUT"]), route=rng.choice(ROUTES),
                      ms=rng.randint(1, 3000), n=rng.randint(1, 10_000_000),
                      amount=f"{rng.uniform(1, 500):.2f}", svc=rng.choice(SERVICES),
                      op=rng.choice(["charge", "reserve", "notify"]), a=rng.randint(1, 3),
                      uid=uuid.UUID(int=rng.getrandbits(128)).hex[:12],
                      ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                      flag=rng.choice(["true", "false"]))


def generate(n_logs: int, now: float, seed: int = 7):
    """Yield (log_rows, request_rows) chunks; each request has 1-9 logs over 1-3 services."""
    rng = random.Random(seed)
    made = 0
    req_no = 0
    while made < n_logs:
        logs, reqs = [], []
        while len(logs) < 50_000 and made + len(logs) < n_logs:
            req_no += 1
            rid = f"req-{req_no:08d}-{rng.getrandbits(32):08x}"
            ts = now - SPAN + (made + len(logs)) / n_logs * SPAN
            main = rng.choice(SERVICES)
            reqs.append((1, ts, ts, main, "production", "1.4.2", "web-1", rid, None, "{}",
                         rng.choice(["GET", "POST"]), rng.choice(ROUTES),
                         rng.choice([200] * 30 + [404, 500]), rng.uniform(1, 900), False))
            for k in range(rng.randint(1, 9)):
                svc = main if k % 3 == 0 else rng.choice(SERVICES)
                logs.append((1, ts + k * 0.003, ts, svc, "production", "1.4.2", "web-1", rid,
                             None, f'{{"k": {k}}}', rng.choice(LEVELS), f"{svc}.app",
                             message(rng, svc)))
        made += len(logs)
        yield logs, reqs


async def load_postgres(url: str, n_logs: int, now: float) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = await asyncpg.connect(user=u.username, host=u.host, port=u.port or 5432,
                                 database=u.database, password=u.password)
    try:
        # Bulk load: index after loading (as a restore would), then ANALYZE.
        await conn.execute("DROP INDEX IF EXISTS ix_logs_message_trgm")
        done = 0
        for logs, reqs in generate(n_logs, now):
            await conn.copy_records_to_table("logs", records=logs, columns=LOG_COLUMNS)
            await conn.copy_records_to_table("request_records", records=reqs,
                                             columns=REQ_COLUMNS)
            done += len(logs)
            print(f"\r  loaded {done:,} logs", end="", flush=True)
        print("\n  building the trigram index ...", flush=True)
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("CREATE INDEX ix_logs_message_trgm ON logs USING gin "
                           "(message gin_trgm_ops)")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def load_sqlite(path: Path, n_logs: int, now: float) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    try:
        done = 0
        for logs, reqs in generate(n_logs, now):
            with db:  # FTS triggers fire per row, as in production ingest
                db.executemany(f"INSERT INTO logs ({','.join(LOG_COLUMNS)}) VALUES "
                               f"({','.join('?' * len(LOG_COLUMNS))})", logs)
                db.executemany(f"INSERT INTO request_records ({','.join(REQ_COLUMNS)}) VALUES "
                               f"({','.join('?' * len(REQ_COLUMNS))})", reqs)
            done += len(logs)
            print(f"\r  loaded {done:,} logs", end="", flush=True)
        print("\n  optimizing ...", flush=True)
        db.execute("INSERT INTO logs_fts(logs_fts) VALUES ('optimize')")
        db.execute("ANALYZE")
        db.commit()
    finally:
        db.close()


async def prepare(db: str, url: str, n_logs: int, fresh: bool) -> float:
    """Create/migrate/load the database; returns the 'now' the data was generated for."""
    engine = create_engine(url)
    if fresh and db == "sqlite":
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    try:
        if fresh and db == "postgres":
            await _recreate_pg(url)
        await upgrade(engine)
        async with engine.connect() as conn:
            count = (await conn.exec_driver_sql("SELECT count(*), max(ts) FROM logs")).one()
    finally:
        await engine.dispose()
    if count[0] >= n_logs:
        print(f"  reusing {count[0]:,} loaded logs")
        return float(count[1])
    if count[0]:
        raise SystemExit("database holds a different data set; use --fresh")
    now = time.time()
    started = time.perf_counter()
    if db == "postgres":
        await load_postgres(url, n_logs, now)
    else:
        load_sqlite(Path(url.split("///", 1)[1]), n_logs, now)
    print(f"  loaded in {time.perf_counter() - started:.0f} s")
    return now


async def _recreate_pg(url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = await asyncpg.connect(user=u.username, host=u.host, port=u.port or 5432,
                                  database="postgres", password=u.password)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{u.database}"')
    finally:
        await admin.close()


def pct(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


async def sample_request_ids(url: str, k: int, seed: int = 3) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            top = (await conn.exec_driver_sql("SELECT max(id) FROM request_records")).scalar_one()
            rng = random.Random(seed)
            ids = []
            for _ in range(k):
                rid = (await conn.exec_driver_sql(
                    "SELECT request_id FROM request_records WHERE id >= ? ORDER BY id LIMIT 1"
                    if engine.dialect.name == "sqlite" else
                    "SELECT request_id FROM request_records WHERE id >= $1 ORDER BY id LIMIT 1",
                    (rng.randint(1, top),))).scalar_one()
                ids.append(rid)
            return ids
    finally:
        await engine.dispose()


async def lookups(url: str, client: httpx.AsyncClient,
                  ids: list[str]) -> tuple[list[float], list[float]]:
    """Raw lookup and API lookup of each ID, interleaved (order alternating per ID).

    The raw lookup is the same three indexed SELECTs the timeline answers
    from, on one open connection: no pool, no app, no HTTP, no JSON. Whichever
    of the pair runs first meets the ID's pages cold; alternating keeps that fair.
    """
    engine = create_engine(url)
    mark = "?" if engine.dialect.name == "sqlite" else "$1"
    sqls = [f"SELECT * FROM {t} WHERE request_id = {mark} ORDER BY ts, id LIMIT 5000"
            for t in ("request_records", "logs", "errors")]
    raw_times: list[float] = []
    api_times: list[float] = []

    async def raw(conn, rid: str) -> None:
        t0 = time.perf_counter()
        for sql in sqls:
            (await conn.exec_driver_sql(sql, (rid,))).all()
        raw_times.append(time.perf_counter() - t0)

    async def api(rid: str) -> None:
        t0 = time.perf_counter()
        resp = await client.get(f"/api/v1/requests/{rid}")
        api_times.append(time.perf_counter() - t0)
        resp.raise_for_status()

    try:
        async with engine.connect() as conn:
            for i, rid in enumerate(ids):
                if i % 2:
                    await raw(conn, rid)
                    await api(rid)
                else:
                    await api(rid)
                    await raw(conn, rid)
    finally:
        await engine.dispose()
    return raw_times, api_times


async def http_times(client: httpx.AsyncClient, paths: list[str]) -> list[float]:
    for path in paths[:20]:
        (await client.get(path)).raise_for_status()
    times = []
    for path in paths:
        t0 = time.perf_counter()
        resp = await client.get(path)
        times.append(time.perf_counter() - t0)
        resp.raise_for_status()
    return times


async def ui_login(server, client: httpx.AsyncClient) -> None:
    out = server.cli("user", "create", "bench@example.com", "--password-stdin",
                     stdin="bench password\n")
    if out.returncode != 0 and "already exists" not in out.stderr:
        raise SystemExit(out.stderr)
    form = await client.get("/login")
    csrf = re.search(r'name="_csrf" value="([^"]+)"', form.text).group(1)
    resp = await client.post("/login", data={"_csrf": csrf, "email": "bench@example.com",
                                             "password": "bench password"})
    assert resp.status_code == 303, resp.text


async def measure(db: str, url: str, samples: int, workdir: Path,
                  data_now: float) -> dict[str, tuple[float, float]]:
    """Time the lookups; "the last hour" is the data's last hour (a reused data set ages)."""
    hour, day, week = (f"{data_now - s:.0f}" for s in (3600, 86400, 7 * 86400))
    ids = await sample_request_ids(url, samples)
    server = start_server(workdir, db_url=url)
    try:
        token = server.create_token()
        headers = {"Authorization": f"Bearer {token}"}
        results: dict[str, tuple[float, float]] = {}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as c:
            floor = await http_times(c, ["/healthz"] * len(ids))
            results["GET /healthz (HTTP round trip, no database)"] = pct(floor)
            await lookups(url, c, ids[-20:])  # warm up the connections
            raw, api = await lookups(url, c, ids)
            results["raw SQL lookup (3 indexed SELECTs)"] = pct(raw)
            results["GET /api/v1/requests/{id}"] = pct(api)
            n = samples
            search = await http_times(
                c, [f"/api/v1/logs?q=timeout&service=checkout&since={hour}"] * n)
            results["GET /api/v1/logs?q=timeout&service=checkout&since=1h"] = pct(search)
            rare_path = f"/api/v1/logs?q=pool%20exhausted&service=billing&level=info&since={day}"
            rare = await http_times(c, [rare_path] * n)
            results["GET /api/v1/logs?q=pool exhausted&service=billing&since=24h"] = pct(rare)
            anywhere = await http_times(
                c, [f"/api/v1/logs?q=sku-{random.Random(i).randint(1, 10**7)}&since={week}"
                    for i in range(n)])
            results["GET /api/v1/logs?q=sku-<random n>&since=7d (rare, whole range)"] = \
                pct(anywhere)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as ui:
            await ui_login(server, ui)
            page_path = ("/search?q=timeout+service%3Acheckout&range=custom"
                         f"&from={hour}&to={data_now:.0f}")
            page = await http_times(ui, [page_path] * n)
            results["UI /search?q=timeout service:checkout, last hour (+count, histogram)"] = \
                pct(page)
            # A common word over the whole week: ~313,000 matches at 5M rows; the
            # page's count stops at 10,000 ("10,000+") instead of counting them all.
            week_path = f"/search?q=timeout&range=custom&from={week}&to={data_now:.0f}"
            week_page = await http_times(ui, [week_path] * max(n // 10, 10))
            results["UI /search?q=timeout, last 7 days (count stops at 10,000)"] = \
                pct(week_page)
    finally:
        server.stop()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--logs", type=int, default=5_000_000)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/"
                                        "lookout_bench_search")
    ap.add_argument("--fresh", action="store_true", help="drop and reload the data")
    args = ap.parse_args()
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    url = (f"sqlite+aiosqlite:///{results_dir / f'search-{args.logs}.db'}"
           if args.db == "sqlite" else args.pg_url)
    print(f"search benchmark on {args.db}: {args.logs:,} logs")
    data_now = asyncio.run(prepare(args.db, url, args.logs, args.fresh))
    results = asyncio.run(measure(args.db, url, args.samples, results_dir / f"serve-{args.db}",
                                  data_now))
    print(f"\n{'':64} {'p50 ms':>8} {'p99 ms':>8}")
    for name, (p50, p99) in results.items():
        print(f"{name:64} {p50 * 1000:8.2f} {p99 * 1000:8.2f}")
    raw = results["raw SQL lookup (3 indexed SELECTs)"]
    api = results["GET /api/v1/requests/{id}"]
    print(f"\nrequest-ID lookup / raw lookup: p50 {api[0] / raw[0]:.2f}x, "
          f"p99 {api[1] / raw[1]:.2f}x  (target <= 3x, p99 <= 50 ms)")


if __name__ == "__main__":
    main()
