"""Run a real ``lookout serve`` subprocess on a free loopback port for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOKOUT = str(Path(sys.executable).with_name("lookout"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LookoutServer:
    workdir: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    nofile: tuple[int, int] | None = None
    """(soft, hard) open-files limit for the process; inherited when None."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a ``lookout`` CLI command against the same database."""
        return subprocess.run([LOOKOUT, *args], cwd=self.workdir, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=60)

    def create_project(self, name: str = "app") -> str:
        """Create a project in the server's database and return its DSN.

        What ``lookout project create`` does and prints, without starting a CLI
        process that imports the whole package (seconds on a loaded machine, and
        most end-to-end tests need a project, a token or a user); the CLI itself
        is tested through subprocesses in tests/lookout/test_cli*.py.
        """
        from lookout.projects import create_project, dsn_for

        project = self._run(lambda engine: create_project(engine, name))
        return dsn_for(self.env["LOOKOUT_BASE_URL"], project.id, project.public_key)

    def create_token(self) -> str:
        """Create a read-API token (as ``lookout token create tests`` does) and return it."""
        from lookout.accounts import create_token

        return self._run(lambda engine: create_token(engine, "tests"))

    def create_user(self, email: str, password: str) -> None:
        """Create a UI user (as ``lookout user create EMAIL --password-stdin`` does)."""
        from lookout.accounts import create_user

        self._run(lambda engine: create_user(engine, email, password))

    def _run(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``work(engine)`` on the server's database, on a loop of its own.

        A thread of its own, so callers may be inside a running event loop (async
        tests), the way a blocking ``subprocess.run`` of the CLI was.
        """
        from lookout.db import create_engine

        async def run() -> Any:
            engine = create_engine(self.env["LOOKOUT_DATABASE_URL"])
            try:
                return await work(engine)
            finally:
                await engine.dispose()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, run()).result(timeout=60)

    def start(self, timeout: float = 30.0) -> None:
        self.start_background()
        self.wait_ready(timeout)

    def start_background(self) -> None:
        """Spawn ``lookout serve`` without waiting (several start at once; see wait_ready)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        # util-linux's prlimit sets the limit and execs the command (same pid).
        prefix = [] if self.nofile is None else ["prlimit", "--nofile={}:{}".format(*self.nofile)]
        self.process = subprocess.Popen(
            [*prefix, LOOKOUT, "serve", "--port", str(self.port)], cwd=self.workdir,
            env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ``/readyz`` until 200; raise with the server's log if it exits or times out."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lookout serve exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"lookout serve not ready after {timeout}s:\n{self.log()}")

    def signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""


def start_server(workdir: Path, db_url: str | None = None, env: dict[str, str] | None = None,
                 port: int | None = None, nofile: tuple[int, int] | None = None) -> LookoutServer:
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    full_env["LOOKOUT_DATABASE_URL"] = db_url or f"sqlite+aiosqlite:///{workdir / 'lookout.db'}"
    full_env["LOOKOUT_BASE_URL"] = f"http://127.0.0.1:{port}"
    # httpx keeps an idle connection 5 s, as long as the server's default keep-alive: a
    # test request sent just as the server closes one fails ("Server disconnected"). The
    # default itself is tested in tests/lookout/test_http_limits.py.
    full_env["LOOKOUT_KEEPALIVE_TIMEOUT"] = "30"
    full_env.update(env or {})
    server = LookoutServer(workdir, port, full_env, log_path=workdir / f"serve-{port}.log",
                           nofile=nofile)
    server.start()
    return server
