"""Benchmark: Sentry transactions and OTLP logs through a real ``lookout serve``.

    .venv/bin/python bench/traces.py [--transactions 10000] [--logs 100000]
                                     [--db sqlite|postgres|both] [--pg-url ...]

For each database one server is started, then, over 16 keep-alive
connections (16 requests in flight):

1. **transactions**: the real ``sentry-sdk`` (``traces_sample_rate=1.0``)
   produces ``--transactions`` server transactions (``http.server``, one
   ``db.query`` child span, one in ten a 500), one envelope each, as its own
   transport serializes and compresses them (a recording transport keeps the
   requests); they are replayed and timed until every request record is
   stored (each transaction is 2 spans + 1 request record + rollups);
2. **logs, OTLP vs /ingest**: the same ``--logs`` log records (200 per
   request, gzip) as OTLP protobuf ``ExportLogsServiceRequest`` bodies to
   ``/v1/logs`` and as Lookout SDK batches to ``/api/{id}/ingest``; each
   answer comes after the commit, so answered records/s is committed
   records/s. The ratio OTLP / ingest is what to compare between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import sentry_sdk
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentry_ingest import (
    IN_FLIGHT,
    RecordingTransport,
    _cli,
    _cpu_seconds,
    _drop_pg,
    _free_port,
    _pg_database,
    _request_bytes,
    db_arguments,
    replay,
    start_serve,
)

from collector import tables
from lookout.db import create_engine

PER_REQUEST = 200


def transaction_requests(dsn: str, count: int) -> list[tuple[str, dict[str, str], bytes]]:
    client = sentry_sdk.Client(dsn=dsn, transport=RecordingTransport, release="3.1.4",
                               environment="bench", default_integrations=False,
                               traces_sample_rate=1.0)
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        scope.set_tag("service", "bench")
        for n in range(count):
            with sentry_sdk.start_transaction(op="http.server", name="GET /orders/:id") as tx:
                with tx.start_child(op="db.query", name="SELECT * FROM orders"):
                    pass
                tx.set_http_status(500 if n % 10 == 0 else 200)
    requests = list(client.transport.requests)
    client.close(timeout=1)
    return [r for r in requests if r[0].endswith("/envelope/")]


def log_bodies(count: int, now: float) -> tuple[list[bytes], list[bytes]]:
    """(OTLP protobuf bodies, /ingest JSON bodies) of the same records, gzip."""
    otlp, ingest = [], []
    for start in range(0, count, PER_REQUEST):
        n = min(PER_REQUEST, count - start)
        message = ExportLogsServiceRequest()
        rl = message.resource_logs.add()
        for key, value in (("service.name", "bench"), ("deployment.environment", "prod")):
            attr = rl.resource.attributes.add()
            attr.key, attr.value.string_value = key, value
        scope = rl.scope_logs.add()
        scope.scope.name = "bench.logger"
        records = []
        for i in range(start, start + n):
            record = scope.log_records.add(time_unix_nano=int((now + i * 1e-6) * 1e9),
                                           severity_number=9, severity_text="INFO")
            record.body.string_value = f"order {i} placed by user {i % 97}"
            attr = record.attributes.add()
            attr.key, attr.value.int_value = "order_id", i
            records.append({"ts": now + i * 1e-6, "level": "info", "logger": "bench.logger",
                            "message": f"order {i} placed by user {i % 97}",
                            "attributes": {"order_id": i}})
        otlp.append(gzip.compress(message.SerializeToString(), 6))
        ingest.append(gzip.compress(msgspec.json.encode(
            {"resource": {"service": "bench", "environment": "prod"}, "logs": records}), 6))
    return otlp, ingest


async def _count(db_url: str, table) -> int:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    finally:
        await engine.dispose()


def run_one(db_url: str, transactions: int, logs: int, workdir: str) -> dict[str, float]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env.update(LOOKOUT_DATABASE_URL=db_url, LOOKOUT_BASE_URL=f"http://127.0.0.1:{port}",
               LOOKOUT_LOG_LEVEL="warning")
    _cli(env, workdir, "migrate")
    dsn = _cli(env, workdir, "project", "create", "bench")
    key, project_id = urlsplit(dsn).username or "", urlsplit(dsn).path.strip("/")
    host = f"127.0.0.1:{port}"
    recorded = transaction_requests(dsn, transactions)
    assert len(recorded) == transactions, f"{len(recorded)} of {transactions} envelopes"
    tx_raw = [_request_bytes(host, "POST", p, h, b) for p, h, b in recorded]
    otlp, ingest = log_bodies(logs, time.time())
    otlp_raw = [_request_bytes(host, "POST", "/v1/logs", {
        "Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf",
        "Content-Encoding": "gzip"}, b) for b in otlp]
    ingest_raw = [_request_bytes(host, "POST", f"/api/{project_id}/ingest", {
        "X-Lookout-Key": key, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        b) for b in ingest]
    server = start_serve(env, workdir, port)
    try:
        health = [_request_bytes(host, "GET", "/healthz", {}, b"")] * transactions
        health_secs, _ = asyncio.run(replay(port, health))
        cpu = _cpu_seconds(server.pid)
        started = time.perf_counter()
        tx_secs, tx_status = asyncio.run(replay(port, tx_raw))
        deadline = time.monotonic() + 120
        while (stored := asyncio.run(_count(db_url, tables.request_records))) < transactions:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {stored} request records stored")
            time.sleep(0.02)
        tx_stored_secs = time.perf_counter() - started
        tx_cpu = (_cpu_seconds(server.pid) - cpu) / transactions * 1e6
        spans = asyncio.run(_count(db_url, tables.spans))
        cpu = _cpu_seconds(server.pid)
        ingest_secs, ingest_status = asyncio.run(replay(port, ingest_raw))
        ingest_cpu = (_cpu_seconds(server.pid) - cpu) / logs * 1e6
        cpu = _cpu_seconds(server.pid)
        otlp_secs, otlp_status = asyncio.run(replay(port, otlp_raw))
        otlp_cpu = (_cpu_seconds(server.pid) - cpu) / logs * 1e6
        stored_logs = asyncio.run(_count(db_url, tables.logs))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert tx_status == {200: transactions}, tx_status
    assert ingest_status == {202: len(ingest_raw)}, ingest_status
    assert otlp_status == {200: len(otlp_raw)}, otlp_status
    assert spans == 2 * transactions, spans
    assert stored_logs == 2 * logs, stored_logs
    return {"healthz": transactions / health_secs, "tx_cpu": tx_cpu, "ingest_cpu": ingest_cpu,
            "otlp_cpu": otlp_cpu, "tx_accepted": transactions / tx_secs, "tx_stored": transactions / tx_stored_secs,
            "tx_bytes": sum(len(b) for _, _, b in recorded) / transactions,
            "ingest_lps": logs / ingest_secs, "otlp_lps": logs / otlp_secs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=10_000)
    parser.add_argument("--logs", type=int, default=100_000)
    db_arguments(parser)
    args = parser.parse_args()
    print(f"{args.transactions} sentry-sdk transactions (one envelope each) and {args.logs} "
          f"log records ({PER_REQUEST}/request, gzip); {IN_FLIGHT} in flight")
    print(f"{'database':10} {'healthz/s':>10} {'tx accepted/s':>14} {'tx stored/s':>12} "
          f"{'vs healthz':>11} "
          f"{'CPU us/tx':>10} {'bytes/tx':>9} {'ingest logs/s':>14} {'OTLP logs/s':>12} "
          f"{'OTLP/ingest':>12} {'CPU us/log ingest':>18} {'OTLP':>6}")
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory() as workdir:
            if db == "sqlite":
                r = run_one(f"sqlite+aiosqlite:///{workdir}/bench.db", args.transactions,
                            args.logs, workdir)
            else:
                url, name = _pg_database(args.pg_url)
                try:
                    r = run_one(url, args.transactions, args.logs, workdir)
                finally:
                    _drop_pg(args.pg_url, name)
        print(f"{db:10} {r['healthz']:10.0f} {r['tx_accepted']:14.0f} {r['tx_stored']:12.0f} "
              f"{r['tx_stored'] / r['healthz']:11.2f} "
              f"{r['tx_cpu']:10.0f} {r['tx_bytes']:9.0f} {r['ingest_lps']:14.0f} "
              f"{r['otlp_lps']:12.0f} {r['otlp_lps'] / r['ingest_lps']:12.2f} "
              f"{r['ingest_cpu']:18.1f} {r['otlp_cpu']:6.1f}")


if __name__ == "__main__":
    main()
