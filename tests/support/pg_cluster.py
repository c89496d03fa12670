"""A private PostgreSQL cluster in a temporary directory, on a free loopback port.

Fault tests restart PostgreSQL under load. They never touch the shared server
the rest of the suite (and other test runs on the machine, and CI) uses on
port 5432 — ``pg_ctlcluster ... restart`` would cut all of those — but run
``initdb`` and ``pg_ctl`` on a cluster of their own that only they know about.
As root, PostgreSQL's tools run as the ``postgres`` user (``runuser``), which
owns the data directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from tests.support.server import free_port


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` directory (Debian layout), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PgCluster:
    """``initdb`` + ``pg_ctl`` on a temporary directory; :meth:`close` removes it all."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's tmp_path: that is private to root, and the server runs as
        # postgres. The socket directory lives inside it too (short path, nobody else's).
        self.root = Path(tempfile.mkdtemp(prefix="lookout-pg-"))
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([*self._as_postgres, *args], capture_output=True, text=True,
                             timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({out.returncode}):\n"
                               f"{out.stdout}\n{out.stderr}\n{self.log()}")
        return out

    def start(self) -> Self:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o700)
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server (again), waiting until it accepts connections."""
        self._pg_ctl("start")

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: connections are cut and new ones refused until resume()."""
        self._pg_ctl("stop", "-m", "fast")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(str(self.bindir / "pg_ctl"), action, "-D", str(self.datadir), "-w",
                  "-t", "120", "-l", str(self.logfile), "-o", options, *extra)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, then the server is back."""
        self._pg_ctl("restart", "-m", "fast")

    def create_database(self, name: str) -> str:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-qc", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, database: str, sql: str) -> str:
        """One SQL statement through psql; its unaligned, tuples-only output."""
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                         "-d", database, "-v", "ON_ERROR_STOP=1", "-Atqc", sql).stdout.strip()

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the server at once (it is thrown away) and delete its directory."""
        if (self.datadir / "postmaster.pid").exists():
            subprocess.run([*self._as_postgres, str(self.bindir / "pg_ctl"), "stop", "-D",
                            str(self.datadir), "-m", "immediate", "-w", "-t", "60"],
                           capture_output=True, timeout=90)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()
