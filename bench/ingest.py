"""Ingest throughput: `lookout serve` under load vs. the raw database write rate.

For each database it measures, in one run on one machine:

1. the raw ceiling: the same log rows written straight to the `logs` table
   (binary COPY on PostgreSQL, executemany on SQLite, no HTTP, no validation),
   committed in transactions of 500 and of 5,000 rows; the faster one counts;
2. Lookout: a separate load process POSTs gzip'd batches of 500 realistic
   log records (~100-char messages, 5 attributes, request IDs) over
   keep-alive connections to a `lookout serve` subprocess for a fixed time;
   every 202 is counted as committed (that is what 202 means, and the
   script verifies the stored row count afterwards).

It prints committed records/s, p50/p99 request latency, the server's peak RSS
and the ratio to the ceiling (target: >= 0.5, RSS <= 200 MB).

    .venv/bin/python bench/ingest.py                 # SQLite, and PostgreSQL if reachable
    .venv/bin/python bench/ingest.py --db sqlite --seconds 30 --clients 24
    .venv/bin/python bench/ingest.py --batch-ids    # a fresh X-Lookout-Batch-Id per request,
                                                    # as lookout_sdk sends
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import json
import multiprocessing as mp
import os
import random
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.normalize import LOG_COLUMNS

LOOKOUT = str(Path(sys.executable).with_name("lookout"))
PG_ADMIN = os.environ.get("LOOKOUT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
WORDS = ["order", "payment", "user", "cart", "checkout", "inventory", "shipping", "failed",
         "completed", "retry", "timeout", "accepted", "customer", "invoice", "session"]


def make_records(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        words = " ".join(rnd.choice(WORDS) for _ in range(14))
        message = (words + " " + "".join(rnd.choices(string.ascii_lowercase, k=20)))[:100]
        out.append({
            "message": message,
            "level": rnd.choice(["info", "info", "info", "warning", "error"]),
            "logger": "app.orders",
            "request_id": uuid.UUID(int=rnd.getrandbits(128)).hex[:16],
            "attributes": {"order_id": rnd.randint(1, 10**6), "user": f"u{rnd.randint(1, 999)}",
                           "plan": rnd.choice(["free", "pro"]), "region": "eu-west-1",
                           "latency_ms": round(rnd.random() * 100, 2)},
        })
    return out


def make_bodies(count: int, batch: int) -> list[bytes]:
    resource = {"service": "checkout", "environment": "bench", "release": "1.0", "host": "h1"}
    return [gzip.compress(json.dumps({"resource": resource,
                                      "logs": make_records(batch, i)}).encode(), 6)
            for i in range(count)]


def rows_for(records: list[dict], project_id: int) -> list[tuple]:
    now = time.time()
    levels = {"info": 20, "warning": 30, "error": 40}
    out = []
    for r in records:
        values = dict(project_id=project_id, ts=now, received_at=now, service="checkout",
                      environment="bench", release="1.0", host="h1",
                      request_id=r["request_id"], trace_id=None,
                      attributes=json.dumps(r["attributes"]), level=levels[r["level"]],
                      logger=r["logger"], message=r["message"])
        out.append(tuple(values[c] for c in LOG_COLUMNS))
    return out


# ---------------------------------------------------------------- raw ceiling

def migrate(url: str, workdir: Path) -> None:
    env = {**os.environ, "LOOKOUT_DATABASE_URL": url}
    subprocess.run([LOOKOUT, "migrate"], cwd=workdir, env=env, check=True, capture_output=True)


def raw_sqlite(path: Path, rows: list[tuple], per_tx: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    sql = f"INSERT INTO logs ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join('?' * len(LOG_COLUMNS))})"
    start = time.perf_counter()
    for i in range(0, len(rows), per_tx):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[i:i + per_tx])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


async def raw_postgres(dsn: str, rows: list[tuple], per_tx: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    start = time.perf_counter()
    for i in range(0, len(rows), per_tx):
        async with conn.transaction():
            await conn.copy_records_to_table("logs", records=rows[i:i + per_tx],
                                             columns=LOG_COLUMNS)
    elapsed = time.perf_counter() - start
    await conn.close()
    return len(rows) / elapsed


# ---------------------------------------------------------------- load process

def load_worker(port: int, project_id: int, key: str, bodies: list[bytes], seconds: float,
                clients: int, batch: int, results: mp.Queue, batch_ids: bool = False) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"X-Lookout-Key": key, "Content-Type": "application/json",
                   "Content-Encoding": "gzip"}
        i = offset
        local: list[float] = []
        local_status: dict[int, int] = {}
        while time.perf_counter() < deadline:
            body = bodies[i % len(bodies)]
            i += clients
            if batch_ids:
                headers["X-Lookout-Batch-Id"] = uuid.uuid4().hex
            t0 = time.perf_counter()
            conn.request("POST", f"/api/{project_id}/ingest", body, headers)
            resp = conn.getresponse()
            resp.read()
            local.append(time.perf_counter() - t0)
            local_status[resp.status] = local_status.get(resp.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(local)
            for k, v in local_status.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put({"elapsed": time.perf_counter() - started, "latencies": latencies,
                 "statuses": statuses, "records": statuses.get(202, 0) * batch})


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_lookout(url: str, workdir: Path, bodies: list[bytes], seconds: float, clients: int,
                batch: int, batch_ids: bool = False) -> dict:
    port = 18000 + random.randint(0, 999)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env.update(LOOKOUT_DATABASE_URL=url, LOOKOUT_LOG_LEVEL="warning")
    subprocess.run([LOOKOUT, "migrate"], cwd=workdir, env=env, capture_output=True, check=True)
    out = subprocess.run([LOOKOUT, "project", "create", "bench"], cwd=workdir, env=env,
                         capture_output=True, text=True, check=True)
    dsn = out.stdout.strip().splitlines()[-1]
    key = dsn.split("//")[1].split("@")[0]
    project_id = int(dsn.rsplit("/", 1)[1])
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen([LOOKOUT, "serve", "--port", str(port)], cwd=workdir, env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        results: mp.Queue = mp.Queue()
        worker = mp.Process(target=load_worker, args=(port, project_id, key, bodies, seconds,
                                                      clients, batch, results, batch_ids))
        worker.start()
        data = results.get(timeout=seconds + 120)
        worker.join()
        data["rss_mb"] = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(60)
        log.close()
    return data


def stored_count(url: str) -> int:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        n = conn.execute("SELECT count(*) FROM logs").fetchone()[0]
        conn.close()
        return n

    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        n = await conn.fetchval("SELECT count(*) FROM logs")
        await conn.close()
        return n

    return asyncio.run(count())


# ---------------------------------------------------------------- main

def pg_available() -> bool:
    async def check() -> bool:
        import asyncpg

        try:
            conn = await asyncpg.connect(PG_ADMIN, timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(check())


async def pg_create(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()


async def pg_drop(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def bench_db(kind: str, args: argparse.Namespace, bodies: list[bytes],
             raw_rows: list[tuple]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ceilings = []
        for per_tx in (500, 5000):
            if kind == "sqlite":
                url = f"sqlite+aiosqlite:///{workdir / f'raw{per_tx}.db'}"
                migrate(url, workdir)
                ceilings.append(raw_sqlite(workdir / f"raw{per_tx}.db", raw_rows, per_tx))
            else:
                name = f"lookout_bench_raw_{os.getpid()}"
                asyncio.run(pg_create(name))
                base = PG_ADMIN.rsplit("/", 1)[0]
                migrate(f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}",
                        workdir)
                ceilings.append(asyncio.run(raw_postgres(f"{base}/{name}", raw_rows, per_tx)))
                asyncio.run(pg_drop(name))
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir / 'lookout.db'}"
        else:
            name = f"lookout_bench_{os.getpid()}"
            asyncio.run(pg_create(name))
            url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            url = f"{url}/{name}"
        result = run_lookout(url, workdir, bodies, args.seconds, args.clients, args.batch,
                             args.batch_ids)
        result["stored"] = stored_count(url)
        if kind != "sqlite":
            asyncio.run(pg_drop(name))
    lat = sorted(result["latencies"])
    rate = result["records"] / result["elapsed"]
    ceiling = max(ceilings)
    return {
        "db": kind, "ceiling_500": ceilings[0], "ceiling_5000": ceilings[1], "ceiling": ceiling,
        "rate": rate, "ratio": rate / ceiling, "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000, "rss_mb": result["rss_mb"],
        "statuses": result["statuses"], "acked": result["records"], "stored": result["stored"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--raw-rows", type=int, default=200_000)
    parser.add_argument("--batch-ids", action="store_true",
                        help="send a fresh X-Lookout-Batch-Id with every request, like the SDK")
    args = parser.parse_args()

    bodies = make_bodies(64, args.batch)
    raw_rows = rows_for(make_records(args.raw_rows, 1), project_id=1)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in kinds and not pg_available():
        print(f"PostgreSQL not reachable at {PG_ADMIN}; skipping it")
        kinds.remove("postgres")
    print(f"batches of {args.batch} gzip'd log records, {args.clients} keep-alive clients, "
          f"{args.seconds:.0f}s per database, {os.cpu_count()} cores"
          + (", a batch id per request" if args.batch_ids else ""))
    for kind in kinds:
        r = bench_db(kind, args, bodies, raw_rows)
        print(f"\n[{r['db']}]")
        print(f"  raw ceiling      {r['ceiling']:>10,.0f} rows/s  (500/tx {r['ceiling_500']:,.0f}, "
              f"5000/tx {r['ceiling_5000']:,.0f})")
        print(f"  lookout ingest   {r['rate']:>10,.0f} records/s committed  "
              f"= {r['ratio']:.2f} x ceiling (target >= 0.50)")
        print(f"  latency          p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")
        print(f"  server peak RSS  {r['rss_mb']:.0f} MB (target <= 200)")
        print(f"  responses        {r['statuses']}; acked {r['acked']:,}, stored {r['stored']:,}")
        if r["stored"] < r["acked"]:
            print("  ERROR: fewer rows stored than acknowledged")
            sys.exit(1)


if __name__ == "__main__":
    main()
