"""Hostile-input benchmark: what a public DSN key can do to a real ``lookout serve``.

A DSN key is public in every browser app, so anyone can send what this
script sends. It starts a real ``lookout serve`` (SQLite, and PostgreSQL when
``--pg-url`` is given), stores 2,000 large (16 KB) log messages, then:

1. **baseline**: a well-behaved client (its own process) sends a gzip'd batch
   of 20 log records ``--rate`` times a second over keep-alive for
   ``--seconds``; its latency is measured from each request's *scheduled*
   send time, so a stalled server counts against every request it held up;
2. **attack**: the same client keeps sending while another process serves
   the hostile inputs, all at once, for ``--seconds``:

   - nested-list attribute bombs (one gzip'd request, ~20 KB, holding a list
     of ``--bomb-elements`` numbers one level down), then the search page and
     the read API listing them, one request at a time each;
   - ``dropped``-map label flood (``--flood-requests`` requests with 1,000
     made-up kinds each) and ``/metrics`` scraped in a loop;
   - connections: six 64 MB request headers, ``--unfinished`` connections
     holding a half-sent head (re-opened when closed), 50 slowloris heads
     (a byte a second), 50 slow bodies (a byte a second);
   - expensive near-miss searches (a 998-character term that almost matches
     the 16 KB messages) on the API and the search page.

It reports the server's peak RSS (``VmHWM``; target <= 300 MB) and the
client's p99 during the attack against the baseline's (target <= 3x), plus
what each attack got. Loopback only; every attack stops at the end of the
phase (client timeouts bound the last requests), so a run takes a few
minutes.

Usage::

    .venv/bin/python bench/hostile.py
    .venv/bin/python bench/hostile.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import http.client
import json
import multiprocessing as mp
import os
import re
import resource
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import LookoutServer, start_server

EMAIL, PASSWORD = "bench@example.com", "a long bench password"
BIG_MESSAGES, BIG_SIZE = 2_000, 16_000
NEAR_MISS = "a" * 997 + "b"  # 998 characters, almost every message's prefix
_CSRF = re.compile(r'name="_csrf" value="([^"]*)"')


# ---------------------------------------------------------------- HTTP helpers

class Target:
    """Where and how to reach the server under test (picklable, for the processes)."""

    def __init__(self, port: int, project_id: str, key: str, token: str, cookie: str) -> None:
        self.port, self.project_id, self.key = port, project_id, key
        self.token, self.cookie = token, cookie

    def conn(self, timeout: float = 120.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def ingest_headers(self, gzipped: bool = True) -> dict[str, str]:
        out = {"X-Lookout-Key": self.key, "Content-Type": "application/json"}
        return out | ({"Content-Encoding": "gzip"} if gzipped else {})


def _request(target: Target, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None,
             timeout: float = 120.0) -> tuple[int | str, int, float]:
    """(status or error name, answer bytes, seconds) of one request on a fresh connection."""
    conn = target.conn(timeout)
    started = time.perf_counter()
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        size = len(resp.read())
        return resp.status, size, time.perf_counter() - started
    except OSError as exc:
        return type(exc).__name__, 0, time.perf_counter() - started
    finally:
        conn.close()


def _ingest_path(target: Target) -> str:
    return f"/api/{target.project_id}/ingest"


# ---------------------------------------------------------------- the well-behaved client

def well_behaved(target: Target, seconds: float, rate: float, out: mp.Queue) -> None:
    """Send a 20-record batch every 1/rate s; latency from the scheduled send time."""
    body = gzip.compress(json.dumps({"logs": [
        {"message": f"checkout completed order {i}", "service": "shop", "level": "info",
         "attributes": {"order": i, "user": f"u{i}"}} for i in range(20)]}).encode())
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    conn = target.conn(60)
    start = time.perf_counter()
    n = 0
    while True:
        scheduled = start + n / rate
        if scheduled - start >= seconds:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            conn.request("POST", _ingest_path(target), body, target.ingest_headers())
            resp = conn.getresponse()
            resp.read()
            statuses[str(resp.status)] += 1
        except OSError as exc:
            statuses[type(exc).__name__] += 1
            conn.close()
            conn = target.conn(60)
        latencies.append(time.perf_counter() - scheduled)
        n += 1
    conn.close()
    out.put({"latencies": latencies, "statuses": dict(statuses)})


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(int(len(ordered) * 0.99) - 1, 0)]


# ---------------------------------------------------------------- the attacks

def bombs_and_renders(target: Target, stop: threading.Event, args: argparse.Namespace,
                      report: dict[str, Any]) -> None:
    """Item 1: nested-list attribute bombs, then render them (search page and API)."""
    inner = "[" + ",".join(["0"] * args.bomb_elements) + "]"
    statuses: Counter[str] = Counter()
    for i in range(args.bombs):
        raw = f'{{"logs":[{{"message":"bomb {i}","attributes":{{"payload":[{inner}]}}}}]}}'
        body = gzip.compress(raw.encode())
        report["bomb_gzip_bytes"] = len(body)
        status, _, _ = _request(target, "POST", _ingest_path(target), body,
                                target.ingest_headers())
        statuses[str(status)] += 1
    report["bomb_ingest"] = dict(statuses)
    renders: list[tuple[str, int | str, int, float]] = []
    pages = [("page", "/search?" + urllib.parse.urlencode({"q": "bomb", "range": "1h"}),
              {"Cookie": target.cookie}),
             ("api", "/api/v1/logs?q=bomb&since=1h", {"Authorization": f"Bearer {target.token}"})]
    while not stop.is_set():
        for name, path, headers in pages:
            if stop.is_set():
                break
            status, size, took = _request(target, "GET", path, headers=headers,
                                          timeout=ATTACK_TIMEOUT)
            renders.append((name, status, size, took))
    report["renders"] = _summarise(renders)


def label_flood(target: Target, stop: threading.Event, args: argparse.Namespace,
                report: dict[str, Any]) -> None:
    """Item 2: made-up ``dropped`` kinds (label values, on the old code)."""
    statuses: Counter[str] = Counter()
    conn = target.conn(60)
    for n in range(args.flood_requests):
        if stop.is_set():
            break
        body = json.dumps({"logs": [{"message": "flood"}],
                           "dropped": {f"kind-{n}-{i}": 1 for i in range(1000)}}).encode()
        try:
            conn.request("POST", _ingest_path(target), body, target.ingest_headers(False))
            resp = conn.getresponse()
            resp.read()
            statuses[str(resp.status)] += 1
        except OSError as exc:
            statuses[type(exc).__name__] += 1
            conn.close()
            conn = target.conn(60)
    conn.close()
    report["flood"] = dict(statuses)


def scrapes(target: Target, stop: threading.Event, args: argparse.Namespace,
            report: dict[str, Any]) -> None:
    """Item 2: ``/metrics`` scraped in a loop while the flood goes on."""
    took: list[float] = []
    while not stop.is_set():
        _, _, seconds = _request(target, "GET", "/metrics")
        took.append(seconds)
    report["scrape_s"] = {"count": len(took), "max": round(max(took, default=0), 3)}


def big_headers(target: Target, stop: threading.Event, args: argparse.Namespace,
                report: dict[str, Any]) -> None:
    """Item 3: six 64 MB request headers, one connection each, at once."""
    accepted: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        sent = 0
        try:
            with socket.create_connection(("127.0.0.1", target.port), timeout=30) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                chunk = b"a" * (1 << 20)
                while sent < 64 << 20 and not stop.is_set():
                    sock.sendall(chunk)
                    sent += len(chunk)
        except OSError:
            pass
        with lock:
            accepted.append(sent >> 20)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report["big_headers_mb_sent_before_cut"] = sorted(accepted)


def unfinished(target: Target, stop: threading.Event, args: argparse.Namespace,
               report: dict[str, Any]) -> None:
    """Item 3: many half-sent heads held open; slowloris heads; slow bodies."""
    head = b"POST /api/%s/ingest HTTP/1.1\r\nHost: x\r\n" % target.project_id.encode()
    slow_body = (head + b"Content-Type: application/json\r\nContent-Length: 1000000\r\n"
                 b"X-Lookout-Key: " + target.key.encode() + b"\r\n\r\n{")
    held: dict[socket.socket, str] = {}
    opened = Counter[str]()
    closed_by_server = Counter[str]()

    def open_one(kind: str) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", target.port), timeout=5)
            sock.sendall(slow_body if kind == "slow body" else head)
            sock.setblocking(False)
        except OSError:
            return
        opened[kind] += 1
        held[sock] = kind

    want = {"half-sent head": args.unfinished, "slowloris": 50, "slow body": 50}
    while not stop.is_set():
        have = Counter(held.values())
        for kind, n in want.items():
            for _ in range(n - have[kind]):
                if stop.is_set():
                    break
                open_one(kind)
        for sock, kind in list(held.items()):
            try:
                sock.recv(4096)  # b"" (closed) or an answer (408/431/503): it is over
            except BlockingIOError:  # still open: trickle on
                if kind != "half-sent head":
                    with contextlib.suppress(OSError):
                        sock.send(b"X" if kind == "slowloris" else b" ")
                continue
            except OSError:
                pass
            closed_by_server[kind] += 1
            del held[sock]
            sock.close()
        stop.wait(1.0)
    for sock in held:
        sock.close()
    report["connections_opened"] = dict(opened)
    report["connections_closed_by_server"] = dict(closed_by_server)


def near_miss_searches(target: Target, stop: threading.Event, args: argparse.Namespace,
                       report: dict[str, Any]) -> None:
    """Item 4: a 998-character term that almost matches 2,000 stored 16 KB messages."""
    pages = [("api", "/api/v1/logs?" + urllib.parse.urlencode({"q": NEAR_MISS, "since": "24h"}),
              {"Authorization": f"Bearer {target.token}"}),
             ("page", "/search?" + urllib.parse.urlencode({"q": NEAR_MISS, "range": "24h"}),
              {"Cookie": target.cookie})]
    searches: list[tuple[str, int | str, int, float]] = []
    while not stop.is_set():
        for name, path, headers in pages:
            if stop.is_set():
                break
            status, size, took = _request(target, "GET", path, headers=headers,
                                          timeout=ATTACK_TIMEOUT)
            searches.append((name, status, size, took))
    report["near_miss_searches"] = _summarise(searches)


def _summarise(results: list[tuple[str, int | str, int, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted({r[0] for r in results}):
        mine = [r for r in results if r[0] == name]
        out[name] = {"count": len(mine), "statuses": dict(Counter(str(r[1]) for r in mine)),
                     "max_s": round(max(r[3] for r in mine), 2),
                     "max_mb": round(max(r[2] for r in mine) / 1e6, 1)}
    return out


ATTACKS = [bombs_and_renders, label_flood, scrapes, big_headers, unfinished, near_miss_searches]
# --attacks names -> the functions (item numbers of the issue this benchmark measures)
GROUPS = {"bombs": [bombs_and_renders], "labels": [label_flood, scrapes],
          "connections": [big_headers, unfinished], "search": [near_miss_searches]}
ATTACK_TIMEOUT = 60.0  # client timeout of one hostile request


def attacker(target: Target, seconds: float, args: argparse.Namespace, out: mp.Queue) -> None:
    """Every attack at once in threads of this process, for ``seconds``."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stop = threading.Event()
    report: dict[str, Any] = {}
    chosen = [a for name in args.attacks.split(",") for a in GROUPS[name.strip()]]
    threads = [threading.Thread(target=a, args=(target, stop, args, report), daemon=True)
               for a in chosen]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    deadline = time.monotonic() + ATTACK_TIMEOUT + 10
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0.1))
    report["attacks_still_running"] = [a.__name__ for a, t in zip(chosen, threads, strict=True)
                                       if t.is_alive()]
    out.put(report)


# ---------------------------------------------------------------- setup and phases

def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prepare(server: LookoutServer) -> Target:
    dsn = urllib.parse.urlsplit(server.create_project("bench"))
    token = server.create_token()
    out = server.cli("user", "create", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    cookie = _login(server.port)
    target = Target(server.port, dsn.path.strip("/"), dsn.username or "", token, cookie)
    # 2,000 stored 16 KB messages for the near-miss searches (item 4).
    for start in range(0, BIG_MESSAGES, 100):
        logs = [{"message": "a" * (BIG_SIZE - 10) + f" big {start + i}", "service": "big"}
                for i in range(100)]
        body = gzip.compress(json.dumps({"logs": logs}).encode())
        status, _, _ = _request(target, "POST", _ingest_path(target), body,
                                target.ingest_headers())
        assert status == 202, status
    return target


def _login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    html = resp.read().decode()
    cookies = [h.split(";", 1)[0] for k, h in resp.getheaders() if k.lower() == "set-cookie"]
    match = _CSRF.search(html)
    assert match, "no CSRF field on /login"
    form = urllib.parse.urlencode({"_csrf": match.group(1), "email": EMAIL,
                                   "password": PASSWORD, "next": "/"})
    conn.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded",
                                          "Cookie": "; ".join(cookies)})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 303, resp.status
    cookies += [h.split(";", 1)[0] for k, h in resp.getheaders() if k.lower() == "set-cookie"]
    conn.close()
    return "; ".join(cookies)


def series_count(target: Target) -> int:
    conn = target.conn(300)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def run_phase(target: Target, args: argparse.Namespace, attack: bool) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    client_out: mp.Queue = ctx.Queue()
    attack_out: mp.Queue = ctx.Queue()
    client = ctx.Process(target=well_behaved, args=(target, args.seconds, args.rate, client_out))
    procs = [client]
    if attack:
        procs.append(ctx.Process(target=attacker, args=(target, args.seconds, args, attack_out)))
    for p in procs:
        p.start()
    result = client_out.get(timeout=args.seconds + 600)
    if attack:
        result["attacks"] = attack_out.get(timeout=args.seconds + 600)
    for p in procs:
        p.join(60)
    return result


def bench(db_url: str, label: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"LOOKOUT_LOG_LEVEL": "warning"}
        server = start_server(Path(tmp), db_url=db_url, env=env,
                              nofile=(args.nofile, args.nofile))
        try:
            target = prepare(server)
            assert server.process is not None
            pid = server.process.pid
            quiet = run_phase(target, args, attack=False)
            rss_quiet = rss_mb(pid, "VmHWM")
            loud = run_phase(target, args, attack=True)
            rss_peak = rss_mb(pid, "VmHWM")
            rss_after = rss_mb(pid, "VmRSS")
            alive = _request(target, "GET", "/healthz", timeout=30)[0]
            series = series_count(target)
        finally:
            server.stop()
    base, hit = p99(quiet["latencies"]), p99(loud["latencies"])
    return {"db": label, "p99_quiet_ms": base * 1000, "p99_attack_ms": hit * 1000,
            "p50_quiet_ms": sorted(quiet["latencies"])[len(quiet["latencies"]) // 2] * 1000,
            "p50_attack_ms": sorted(loud["latencies"])[len(loud["latencies"]) // 2] * 1000,
            "ratio": hit / base, "rss_quiet_mb": rss_quiet, "rss_peak_mb": rss_peak,
            "rss_after_mb": rss_after, "quiet_statuses": quiet["statuses"],
            "attack_statuses": loud["statuses"], "healthz_after": alive, "series": series,
            "attacks": loud["attacks"]}


async def _pg(admin: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", help="PostgreSQL admin URL (postgresql://...); a fresh "
                        "database is created on it and dropped after")
    parser.add_argument("--seconds", type=float, default=30, help="length of each phase")
    parser.add_argument("--rate", type=float, default=20, help="well-behaved requests/s")
    parser.add_argument("--bombs", type=int, default=5)
    parser.add_argument("--bomb-elements", type=int, default=9_900_000)
    parser.add_argument("--flood-requests", type=int, default=1000)
    parser.add_argument("--unfinished", type=int, default=1100)
    parser.add_argument("--nofile", type=int, default=1024,
                        help="the server's open-files limit (soft and hard), as on a default "
                             "system")
    parser.add_argument("--attacks", default=",".join(GROUPS),
                        help=f"comma-separated subset of {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()

    runs: list[tuple[str, str]] = []
    tmp_db = None
    if not args.skip_sqlite:
        runs.append(("sqlite", ""))
    if args.pg_url:
        tmp_db = f"lookout_bench_hostile_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg(args.pg_url, f'CREATE DATABASE "{tmp_db}"'))
        base = args.pg_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        runs.append(("postgres", f"{base}/{tmp_db}"))
    print(f"{args.seconds:.0f}s per phase, well-behaved client {args.rate:g} req/s of 20 "
          f"records, server open-files limit {args.nofile}, {os.cpu_count()} cores, "
          f"attacks: {args.attacks}")
    failed = False
    try:
        for label, url in runs:
            r = bench(url or None, label, args)  # type: ignore[arg-type]
            print(f"\n[{r['db']}]")
            print(f"  ingest p99     quiet {r['p99_quiet_ms']:.1f} ms, under attack "
                  f"{r['p99_attack_ms']:.1f} ms = {r['ratio']:.2f}x (target <= 3); p50 "
                  f"{r['p50_quiet_ms']:.1f} / {r['p50_attack_ms']:.1f} ms")
            print(f"  server RSS     peak {r['rss_peak_mb']:.0f} MB (target <= 300; "
                  f"{r['rss_quiet_mb']:.0f} MB before the attack, {r['rss_after_mb']:.0f} MB "
                  "after)")
            print(f"  client answers quiet {r['quiet_statuses']}, attack {r['attack_statuses']}")
            print(f"  after          /healthz {r['healthz_after']}, {r['series']} metric series")
            for key, value in r["attacks"].items():
                print(f"  {key:<14} {json.dumps(value)}")
            failed |= r["ratio"] > 3 or r["rss_peak_mb"] > 300
    finally:
        if tmp_db and args.pg_url:
            asyncio.run(_pg(args.pg_url, f'DROP DATABASE IF EXISTS "{tmp_db}" WITH (FORCE)'))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
