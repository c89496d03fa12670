"""Two ``lookout serve`` instances on one PostgreSQL behind the real nginx (deploy/nginx.conf)."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import pytest

from tests.support.cluster import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def request(url: str, method: str = "GET", path: str = "/", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ingest(cluster: Cluster, dsn: str, messages: list[str]) -> int:
    parts = urlsplit(dsn)
    body = json.dumps({"logs": [{"message": m} for m in messages]}).encode()
    status, _ = request(cluster.url, "POST", f"/api/{parts.path.strip('/')}/ingest", body,
                        {"X-Lookout-Key": parts.username or "",
                         "Content-Type": "application/json"})
    return status


def accepted_logs(instance_url: str) -> float:
    """This instance's count of stored log records, from its own /metrics."""
    with urllib.request.urlopen(instance_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.findall(r'^lookout_ingest_records_accepted_total\{[^}]*kind="log"[^}]*\} (\S+)$',
                       text, re.MULTILINE)
    return sum(float(v) for v in found)


def stored_messages(cluster: Cluster, token: str, word: str) -> list[str]:
    """Every stored log message containing ``word``, via the read API through nginx."""
    messages: list[str] = []
    cursor = ""
    while True:
        query = {"q": word, "since": "1h", "limit": 500} | ({"cursor": cursor} if cursor else {})
        path = "/api/v1/logs?" + urlencode(query)
        status, body = request(cluster.url, path=path,
                               headers={"Authorization": f"Bearer {token}"})
        assert status == 200, body
        page = json.loads(body)
        messages += [item["message"] for item in page["items"]]
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return messages


@dataclass
class Load:
    """Client threads sending through nginx until stopped, recording every outcome."""

    cluster: Cluster
    dsn: str
    token: str
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: Counter[str] = field(default_factory=Counter)
    acked: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def _record(self, kind: str, status: int | str) -> None:
        with self.lock:
            self.outcomes[f"{kind} {status}"] += 1

    def _reads(self) -> None:
        while not self.stop.is_set():
            for path in ("/readyz", "/api/v1/logs?q=load&limit=5"):
                try:
                    status, _ = request(self.cluster.url, path=path,
                                        headers={"Authorization": f"Bearer {self.token}"})
                except OSError as exc:
                    status = type(exc).__name__
                self._record("GET", status)

    def _writes(self, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            batch = [f"load w{worker} b{n} r{i}" for i in range(20)]
            try:
                status: int | str = ingest(self.cluster, self.dsn, batch)
            except OSError as exc:
                status = type(exc).__name__
            self._record("POST", status)
            if status == 202:
                with self.lock:
                    self.acked += batch

    def start(self, readers: int = 2, writers: int = 2) -> Load:
        self.threads = [threading.Thread(target=self._reads) for _ in range(readers)]
        self.threads += [threading.Thread(target=self._writes, args=(w,)) for w in range(writers)]
        for t in self.threads:
            t.start()
        return self

    def wait_for(self, total: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(self.outcomes.values()) < total:
            assert time.monotonic() < deadline, f"load stalled: {self.outcomes}"
            time.sleep(0.02)

    def finish(self) -> Counter[str]:
        self.stop.set()
        for t in self.threads:
            t.join(120)
        return self.outcomes

    def errors(self) -> dict[str, int]:
        return {k: v for k, v in self.outcomes.items() if k not in {"GET 200", "POST 202"}}


def test_both_instances_take_traffic_and_readyz_answers_through_nginx(cluster: Cluster):
    status, body = request(cluster.url, path="/readyz")
    assert status == 200, body
    dsn = cluster.create_project()
    assert urlsplit(dsn).port == cluster.nginx_port  # DSNs point at the proxy
    for n in range(40):
        assert ingest(cluster, dsn, [f"spread {n}"]) == 202
    per_instance = [accepted_logs(i.url) for i in cluster.instances]
    assert sum(per_instance) == 40
    assert all(count > 0 for count in per_instance), per_instance
    assert sorted(stored_messages(cluster, cluster.create_token(), "spread")) == \
        sorted(f"spread {n}" for n in range(40))


def test_sigterm_of_one_instance_is_invisible_to_clients(cluster: Cluster):
    dsn, token = cluster.create_project(), cluster.create_token()
    load = Load(cluster, dsn, token).start()
    load.wait_for(200)
    assert cluster.terminate(0) == 0, cluster.instances[0].log()
    before = sum(load.outcomes.values())
    load.wait_for(before + 200)  # served by the other instance alone
    cluster.restart(0)
    load.wait_for(sum(load.outcomes.values()) + 200)
    outcomes = load.finish()
    assert load.errors() == {}, (outcomes, cluster.nginx_log())
    assert sorted(stored_messages(cluster, token, "load")) == sorted(load.acked)


def test_kill_9_of_one_instance_reads_retried_and_new_writes_go_elsewhere(cluster: Cluster):
    dsn, token = cluster.create_project(), cluster.create_token()
    load = Load(cluster, dsn, token).start(readers=3, writers=0)
    load.wait_for(200)
    cluster.kill(1)
    before = sum(load.outcomes.values())
    load.wait_for(before + 200)
    # Writes sent after the kill: nginx could not connect to the dead instance,
    # so it sent them to the live one; none fails.
    statuses = [ingest(cluster, dsn, [f"afterkill {n}"]) for n in range(30)]
    outcomes = load.finish()
    assert load.errors() == {}, (outcomes, cluster.nginx_log())
    assert statuses == [202] * 30
    assert len(stored_messages(cluster, token, "afterkill")) == 30
    cluster.restart(1)
    assert accepted_logs(cluster.instances[1].url) == 0  # a fresh process
    deadline = time.monotonic() + 60  # nginx retries it after fail_timeout (5 s)
    while accepted_logs(cluster.instances[1].url) == 0:
        assert time.monotonic() < deadline, "the restarted instance never got traffic back"
        assert ingest(cluster, dsn, ["back"]) == 202
        time.sleep(0.05)


def test_nginx_body_limit_matches_lookouts(cluster: Cluster):
    dsn = urlsplit(cluster.create_project())
    path = f"/api/{dsn.path.strip('/')}/ingest"
    headers = {"X-Lookout-Key": dsn.username or "", "Content-Type": "application/json"}
    limit = 5 * 1024 * 1024  # LOOKOUT_MAX_BODY_BYTES's default
    status, body = request(cluster.url, "POST", path, b" " * limit, headers)
    assert status == 400 and b"error" in body  # reached Lookout, which read it all
    status, body = request(cluster.url, "POST", path, b" " * (limit + 1), headers)
    assert status == 413 and b"<center>nginx" in body  # nginx's page, not Lookout's



def _held_back(cluster: Cluster, path: str, n: int, body: bytes,
               headers: dict[str, str]) -> list[tuple[int, bytes, str | None]]:
    """``n`` requests sent at once, their bodies held back until all heads are in, then each
    answer (status 0: nginx refused before reading the body and closed)."""
    parts = urlsplit(cluster.url)
    conns = []
    for _ in range(n):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        conn.putrequest("POST", path)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(name, value)
        conn.endheaders()
        conns.append(conn)
    answers: list[tuple[int, bytes, str | None]] = []
    for conn in conns:
        try:
            conn.send(body)
            resp = conn.getresponse()
            answers.append((resp.status, resp.read(), resp.getheader("Retry-After")))
        except OSError as exc:
            answers.append((0, str(exc).encode(), None))
        finally:
            conn.close()
    return answers


def _assert_json_429(answers: list[tuple[int, bytes, str | None]]) -> None:
    refused = next(a for a in answers if a[0] == 429)
    assert json.loads(refused[1])["error"].startswith("too many requests") and refused[2] == "1"


def test_nginx_limits_the_ingest_rate_per_address_with_a_json_429(cluster: Cluster):
    dsn = urlsplit(cluster.create_project())
    path = f"/api/{dsn.path.strip('/')}/ingest"
    headers = {"X-Lookout-Key": dsn.username or "", "Content-Type": "application/json"}
    body = json.dumps({"logs": [{"message": "rate"}]}).encode()
    # 300 at once from one address: 100/s plus a burst of 200 are let through (delayed).
    answers = _held_back(cluster, path, 300, body, headers)
    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {202, 429}, statuses
    assert statuses[202] >= 150 and statuses[429] >= 50, statuses
    _assert_json_429(answers)


def test_nginx_limits_concurrent_requests_per_address(cluster: Cluster):
    # Not ingest (no rate limit there): 100 requests in flight at once, 64 allowed.
    answers = _held_back(cluster, "/login", 100, b"email=a",
                         {"Content-Type": "application/x-www-form-urlencoded"})
    statuses = Counter(status for status, _, _ in answers)
    assert statuses[429] >= 30 and all(s < 500 for s in statuses), statuses
    _assert_json_429(answers)


def test_nginx_serves_metrics_to_loopback(cluster: Cluster):
    status, body = request(cluster.url, path="/metrics")
    assert status == 200 and b"lookout_ingest_records_accepted_total" in body
