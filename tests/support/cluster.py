"""Several real ``lookout serve`` processes on one PostgreSQL behind a real nginx.

The nginx configuration is ``deploy/nginx.conf`` itself, with only its
listen port and upstream server list rewritten, so the tests exercise what
users install. nginx runs in the foreground (``daemon off``) with its pid,
logs and temp files in the cluster's work directory; :meth:`Cluster.close`
stops every process it started, whatever state the test left them in.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from tests.support.server import LookoutServer, free_port

NGINX = "/usr/sbin/nginx"
DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
_UPSTREAM_SERVER = re.compile(r"^(\s*)server 127\.0\.0\.1:\d+ (.*)$", re.MULTILINE)


def render_site(ports: Sequence[int], listen_port: int, source: Path = DEPLOY_CONF) -> str:
    """``source`` with its upstream pointing at ``ports`` and listening on ``listen_port``."""
    text = source.read_text()
    servers = list(_UPSTREAM_SERVER.finditer(text))
    if not servers:
        raise ValueError(f"no 'server 127.0.0.1:PORT ...' lines in {source}")
    indent, options = servers[0].group(1), servers[0].group(2)
    block = "\n".join(f"{indent}server 127.0.0.1:{p} {options}" for p in ports)
    text = text[:servers[0].start()] + block + text[servers[-1].end():]
    rendered, count = re.subn(r"\blisten 80;", f"listen 127.0.0.1:{listen_port};", text)
    if count != 1:
        raise ValueError(f"expected one 'listen 80;' in {source}")
    return rendered


def _main_conf(workdir: Path, site: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {workdir / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}daemon off;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'error.log'} info;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"    access_log {workdir / 'access.log'};\n{temp}\n"
            f"    include {site};\n}}\n")


class Cluster:
    """``n`` Lookout instances on ``database_url`` (PostgreSQL) and nginx in front."""

    def __init__(self, workdir: Path, database_url: str, n: int = 2,
                 env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.nginx_port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
        base.update({"LOOKOUT_DATABASE_URL": database_url,
                     "LOOKOUT_BASE_URL": self.url,
                     "LOOKOUT_TRUSTED_PROXIES": "127.0.0.1"})
        base.update(env or {})
        self.instances: list[LookoutServer] = []
        for i in range(n):
            port = free_port()
            instance_dir = workdir / f"instance-{i}"
            instance_dir.mkdir(parents=True, exist_ok=True)
            self.instances.append(LookoutServer(instance_dir, port, dict(base),
                                                log_path=instance_dir / "serve.log"))
        self.nginx_dir = workdir / "nginx"
        self.nginx: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients go: nginx."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def start(self, timeout: float = 60.0) -> Self:
        """Start every instance (all at once: concurrent start is safe), then nginx."""
        try:
            for instance in self.instances:
                instance.start_background()
            for instance in self.instances:
                instance.wait_ready(timeout)
            self._start_nginx(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def _start_nginx(self, timeout: float) -> None:
        self.nginx_dir.mkdir(parents=True, exist_ok=True)
        site = self.nginx_dir / "lookout.conf"
        site.write_text(render_site([i.port for i in self.instances], self.nginx_port))
        conf = self.nginx_dir / "nginx.conf"
        conf.write_text(_main_conf(self.nginx_dir, site))
        log = open(self.nginx_dir / "stdout.log", "ab")  # noqa: SIM115 - closed with nginx
        self.nginx = subprocess.Popen(
            [NGINX, "-p", str(self.nginx_dir), "-e", str(self.nginx_dir / "error.log"),
             "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                raise RuntimeError(f"nginx exited early:\n{self.nginx_log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"nginx not answering after {timeout}s:\n{self.nginx_log()}")

    def kill(self, index: int) -> None:
        """``kill -9`` one instance: no drain, in-flight requests cut."""
        instance = self.instances[index]
        instance.signal(signal.SIGKILL)
        if instance.process is not None:
            instance.process.wait(30)

    def terminate(self, index: int, timeout: float = 60.0) -> int:
        """SIGTERM one instance and wait for its graceful exit; returns the exit status."""
        instance = self.instances[index]
        instance.signal(signal.SIGTERM)
        return instance.wait(timeout)

    def restart(self, index: int, timeout: float = 60.0) -> None:
        """Start a stopped (or killed) instance again on the same port."""
        instance = self.instances[index]
        if instance.process is not None and instance.process.poll() is None:
            self.terminate(index)
        instance.start(timeout)

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.instances[0].cli(*args, stdin=stdin)

    def create_project(self, name: str = "app") -> str:
        """A project's DSN, pointing at nginx (LOOKOUT_BASE_URL)."""
        return self.instances[0].create_project(name)

    def create_token(self) -> str:
        return self.instances[0].create_token()

    def nginx_log(self) -> str:
        parts = []
        for name in ("stdout.log", "error.log"):
            try:
                parts.append((self.nginx_dir / name).read_text(errors="replace")[-3000:])
            except OSError:
                pass
        return "\n".join(parts)

    def close(self) -> None:
        """Stop nginx and every instance; kill what does not stop in time."""
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)  # graceful: finish in-flight requests
            try:
                self.nginx.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.nginx.pid, signal.SIGKILL)  # master and workers
                self.nginx.wait(5)
        for instance in self.instances:
            instance.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

