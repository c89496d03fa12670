"""Login benchmark: server memory and time for a burst of password checks.

Starts a real ``lookout serve`` (SQLite in a temporary directory) per value
of ``LOOKOUT_LOGIN_HASH_THREADS`` given, sends ``--logins`` concurrent login
attempts with distinct emails (the per-address email cap is raised so every
attempt is checked; the throttle is not what is measured) and prints how
many were checked, how long the burst took and the server's RSS before and
at its peak (``VmHWM``). Each scrypt check (N=2**17, r=8, p=1) needs 128 MiB,
so the peak grows with the number of checks allowed to run at once, not
with the number of logins.

Usage::

    .venv/bin/python bench/login.py --threads 2 6
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import start_server


def memory_mib(pid: int) -> dict[str, int]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", text).group(1)) // 1024  # type: ignore[union-attr]
            for key in ("VmRSS", "VmHWM")}


async def burst(url: str, logins: int) -> tuple[list[int], float]:
    limits = httpx.Limits(max_connections=logins)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        form = await client.get("/login")
        csrf = re.search(r'name="_csrf" value="([^"]*)"', form.text).group(1)  # type: ignore[union-attr]
        start = time.perf_counter()
        answers = await asyncio.gather(*(client.post("/login", data={
            "_csrf": csrf, "email": f"user{i}@example.com", "password": "wrong password"})
            for i in range(logins)))
        return [a.status_code for a in answers], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", nargs="+", default=["2"])
    parser.add_argument("--logins", type=int, default=40)
    args = parser.parse_args()
    for threads in args.threads:
        server = start_server(Path(tempfile.mkdtemp()), env={
            "LOOKOUT_LOGIN_MAX_EMAILS": str(args.logins * 10),
            "LOOKOUT_LOGIN_HASH_THREADS": threads})
        try:
            assert server.process is not None
            before = memory_mib(server.process.pid)
            codes, took = asyncio.run(burst(server.url, args.logins))
            after = memory_mib(server.process.pid)
        finally:
            server.stop()
        print(f"LOOKOUT_LOGIN_HASH_THREADS={threads}: {args.logins} logins, "
              f"{codes.count(401)} checked in {took:.1f} s; server RSS {before['VmRSS']} MiB "
              f"before, peak {after['VmHWM']} MiB")


if __name__ == "__main__":
    main()
