"""Benchmark: error events/s through the Sentry envelope endpoint, stored and grouped.

    .venv/bin/python bench/sentry_ingest.py [--events 20000] [--db sqlite|postgres|both]
                                            [--pg-url postgresql+asyncpg://postgres@127.0.0.1/]
                                            [--tags 2]

For each database it starts a real ``lookout serve``, creates a project, and
has the real ``sentry-sdk`` produce ``--events`` error events (ten different
bugs, values varying; ``--tags`` custom tags set on each, counted per issue,
0 for none). The SDK's own transport code serializes, compresses
(``br``, quality 4, as it does when brotli is installed) and builds the
headers of each request; a recording transport keeps the request instead of
sending it. Those requests are then replayed, one event per request as the
SDK sends them, over 16 keep-alive connections (16 in flight).

Reported:
- accepted/s: events answered 200 (Lookout answers after the commit);
- stored+grouped/s: events until the issues API counts all of them;
- baseline: ``GET /healthz`` over the same 16 connections, measured in the
  same run — the HTTP ceiling of this machine right now; the ratio to it is
  what to compare between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import sentry_sdk
from sentry_sdk.transport import HttpTransport

IN_FLIGHT = 16
LOOKOUT = str(Path(sys.executable).with_name("lookout"))


class RecordingTransport(HttpTransport):
    """The SDK's HTTP transport, minus the network: keeps (path, headers, body)."""

    def __init__(self, options):
        super().__init__(options)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    def capture_envelope(self, envelope) -> None:
        self._send_envelope(envelope)  # synchronously, no worker queue to overflow

    def _send_request(self, body, headers, endpoint_type, envelope=None) -> None:
        self._update_headers(headers)
        path = urlsplit(str(self._auth.get_api_url(endpoint_type))).path
        self.requests.append((path, dict(headers), bytes(body)))


def _bug(kind: int, n: int) -> None:
    if kind == 0:
        raise ValueError(f"order {n} is invalid")
    if kind == 1:
        _ = {}[f"sku-{n}"]
    if kind == 2:
        raise TimeoutError(f"payment gateway timed out after {n % 30} s")
    if kind == 3:
        raise PermissionError(f"user {n} may not refund")
    if kind == 4:
        _ = [1, 2, 3][n]
    if kind == 5:
        raise ConnectionError(f"cannot reach 10.0.{n % 255}.7:5432")
    if kind == 6:
        _ = int(f"x{n}")
    if kind == 7:
        raise RuntimeError(f"job {uuid.uuid4()} crashed")
    if kind == 8:
        raise LookupError(f"no warehouse for zip {10000 + n}")
    raise ZeroDivisionError(f"division by zero in invoice {n}")


# Custom tags: (key, values); event n gets value n % len(values) of the first --tags keys.
TAGS = (("plan", ("free", "pro", "team")), ("region", ("eu", "us", "ap", "sa")),
        ("browser", ("firefox", "chrome", "safari", "edge", "other")))


def sdk_requests(dsn: str, count: int, tags: int = 2) -> list[tuple[str, dict[str, str], bytes]]:
    client = sentry_sdk.Client(dsn=dsn, transport=RecordingTransport, release="3.1.4",
                               environment="bench", default_integrations=False)
    transport = client.transport
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        scope.set_tag("service", "bench")
        for n in range(count):
            for key, values in TAGS[:tags]:
                scope.set_tag(key, values[n % len(values)])
            try:
                _bug(n % 10, n)
            except Exception:  # noqa: BLE001 - every one is reported
                sentry_sdk.capture_exception()
    requests = list(transport.requests)
    client.close(timeout=1)
    return [r for r in requests if r[0].endswith("/envelope/")]


def _request_bytes(host: str, method: str, path: str, headers: dict[str, str],
                   body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host",
                                                                           "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def replay(port: int, raw_requests: list[bytes]) -> tuple[float, dict[int, int]]:
    """Send every request over IN_FLIGHT keep-alive connections; (seconds, statuses)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for r in raw_requests:
        queue.put_nowait(r)
    statuses: dict[int, int] = {}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                writer.write(queue.get_nowait())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - started, statuses


def _get_json(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def _grouped(base: str, token: str) -> tuple[int, int]:
    """(events counted on issues, issues) from the issues API."""
    total, issues, cursor = 0, 0, None
    while True:
        url = f"{base}/api/v1/issues?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        page = _get_json(url, token)
        total += sum(i["count"] for i in page["items"])
        issues += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return total, issues


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(env: dict[str, str], workdir: str, port: int) -> subprocess.Popen[bytes]:
    """``lookout serve`` on ``port`` once it answers ``/readyz`` (within 30 s), for the
    bench scripts that drive a real server; stopped with :func:`stop_serve`."""
    server = subprocess.Popen([LOOKOUT, "serve", "--port", str(port)], env=env, cwd=workdir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("lookout serve did not start") from None
            time.sleep(0.05)


def db_arguments(parser: argparse.ArgumentParser) -> None:
    """``--db`` and ``--pg-url``, as every bench script that runs on both databases takes them."""
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get(
        "LOOKOUT_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))


def _cli(env: dict[str, str], workdir: str, *args: str) -> str:
    out = subprocess.run([LOOKOUT, *args], env=env, cwd=workdir, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1]


def run_one(db_url: str, events: int, workdir: str, tags: int = 2) -> dict[str, float]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env.update(LOOKOUT_DATABASE_URL=db_url, LOOKOUT_BASE_URL=f"http://127.0.0.1:{port}",
               LOOKOUT_LOG_LEVEL="warning")
    _cli(env, workdir, "migrate")
    dsn = _cli(env, workdir, "project", "create", "bench")
    token = _cli(env, workdir, "token", "create", "bench")
    recorded = sdk_requests(dsn, events, tags)
    assert len(recorded) == events, f"the SDK produced {len(recorded)} of {events} requests"
    host = f"127.0.0.1:{port}"
    sentry = [_request_bytes(host, "POST", p, h, b) for p, h, b in recorded]
    health = [_request_bytes(host, "GET", "/healthz", {}, b"")] * events
    server = start_serve(env, workdir, port)
    try:
        base_secs, base_status = asyncio.run(replay(port, health))
        cpu_before = _cpu_seconds(server.pid)
        secs, statuses = asyncio.run(replay(port, sentry))
        started = time.perf_counter() - secs
        deadline = time.monotonic() + 120
        while (grouped := _grouped(f"http://{host}", token))[0] < statuses.get(200, 0):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {grouped[0]} events grouped")
            time.sleep(0.02)
        stored_secs = time.perf_counter() - started
        cpu_us = (_cpu_seconds(server.pid) - cpu_before) / events * 1e6
        writes = _writer_stats(f"http://{host}/metrics")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert statuses == {200: events}, statuses
    assert base_status == {200: events}, base_status
    return {"healthz_rps": events / base_secs, "accepted_eps": events / secs,
            "stored_eps": events / stored_secs, "issues": grouped[1],
            "body_bytes": sum(len(b) for _, _, b in recorded) / events, "cpu_us": cpu_us,
            **writes}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report CPU per event."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _writer_stats(url: str) -> dict[str, float]:
    """Mean records and seconds per writer transaction, from Lookout's own /metrics."""
    values: dict[str, float] = {}
    with urllib.request.urlopen(url, timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            name, _, value = line.partition(" ")
            if name in ("lookout_write_batch_records_sum", "lookout_write_batch_records_count",
                        "lookout_write_batch_seconds_sum"):
                values[name] = float(value)
    count = values.get("lookout_write_batch_records_count") or 1
    return {"per_txn": values.get("lookout_write_batch_records_sum", 0) / count,
            "txn_ms": values.get("lookout_write_batch_seconds_sum", 0) / count * 1000}


def _pg_database(base_url: str) -> tuple[str, str]:
    import asyncpg

    u = urlsplit(base_url.replace("postgresql+asyncpg", "postgresql"))
    name = f"lookout_bench_{os.getpid()}"

    async def create() -> None:
        conn = await asyncpg.connect(user=u.username or "postgres", password=u.password,
                                     host=u.hostname or "127.0.0.1", port=u.port or 5432,
                                     database="postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    netloc = u.netloc
    return f"postgresql+asyncpg://{netloc}/{name}", name


def _drop_pg(base_url: str, name: str) -> None:
    import asyncpg

    u = urlsplit(base_url.replace("postgresql+asyncpg", "postgresql"))

    async def drop() -> None:
        conn = await asyncpg.connect(user=u.username or "postgres", password=u.password,
                                     host=u.hostname or "127.0.0.1", port=u.port or 5432,
                                     database="postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=2, choices=range(len(TAGS) + 1),
                        help="custom tags per event (counted per issue)")
    db_arguments(parser)
    args = parser.parse_args()
    print(f"{args.events} error events, one per request, {IN_FLIGHT} in flight, "
          f"{args.tags} custom tags each")
    print(f"{'database':10} {'healthz req/s':>14} {'accepted ev/s':>14} "
          f"{'stored+grouped ev/s':>20} {'vs healthz':>10} {'issues':>7} {'bytes/req':>9} "
          f"{'events/txn':>10} {'ms/txn':>7} {'server CPU us/ev':>16}")
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory() as workdir:
            if db == "sqlite":
                r = run_one(f"sqlite+aiosqlite:///{workdir}/bench.db", args.events, workdir,
                            args.tags)
            else:
                url, name = _pg_database(args.pg_url)
                try:
                    r = run_one(url, args.events, workdir, args.tags)
                finally:
                    _drop_pg(args.pg_url, name)
        print(f"{db:10} {r['healthz_rps']:14.0f} {r['accepted_eps']:14.0f} "
              f"{r['stored_eps']:20.0f} {r['stored_eps'] / r['healthz_rps']:10.2f} "
              f"{r['issues']:7.0f} {r['body_bytes']:9.0f} {r['per_txn']:10.1f} "
              f"{r['txn_ms']:7.1f} {r['cpu_us']:16.0f}")


if __name__ == "__main__":
    main()
