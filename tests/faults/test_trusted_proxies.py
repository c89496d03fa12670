"""Client addresses behind nginx: taken from X-Forwarded-For only when the peer is trusted.

Clients connect from distinct loopback addresses (127.0.0.2, 127.0.0.3) while
nginx reaches the instances from 127.0.0.1, the one trusted proxy — the same
picture as real users on other hosts. What the login throttle keyed on is
read back from the database.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import Select, select

from lookout.db import create_engine
from tests.support.cluster import Cluster
from tests.web.conftest import csrf_from
from web.tables import login_failures, sessions

pytestmark = [pytest.mark.e2e]
PASSWORD = "correct horse battery staple"


def browser_from(address: str, base_url: str) -> httpx.Client:
    """An HTTP client whose connections come from ``address``."""
    return httpx.Client(base_url=base_url, timeout=60,
                        transport=httpx.HTTPTransport(local_address=address))


def log_in(client: httpx.Client, email: str, password: str,
           headers: dict[str, str] | None = None) -> int:
    form = client.get("/login", headers=headers)
    assert form.status_code == 200, form.text
    resp = client.post("/login", headers=headers,
                       data={"email": email, "password": password, "_csrf": csrf_from(form.text)})
    return resp.status_code


def scalars(database_url: str, query: Select) -> list[object]:
    async def run() -> list[object]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(query)).scalars())
        finally:
            await engine.dispose()
    return asyncio.run(run())


def failure_ips(database_url: str, email: str) -> list[object]:
    """The addresses the login throttle recorded failures for ``email`` under."""
    return scalars(database_url, select(login_failures.c.ip).where(login_failures.c.email == email))


@pytest.mark.postgres
def test_login_throttle_behind_nginx_keys_on_the_real_client(cluster: Cluster, pg_url: str):
    email = "ops@example.com"
    out = cluster.cli("user", "create", email, "--password-stdin", stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    # The attacker also forges X-Forwarded-For; nginx appends its real address.
    forged = {"X-Forwarded-For": "203.0.113.9"}
    with browser_from("127.0.0.2", cluster.url) as attacker, \
            browser_from("127.0.0.3", cluster.url) as user:
        assert [log_in(attacker, email, "guess", forged) for _ in range(5)] == [401] * 5
        assert log_in(attacker, email, PASSWORD, forged) == 429  # locked, even when right
        assert log_in(user, email, "typo") == 401  # another address is not locked out
        assert log_in(user, email, PASSWORD) == 303
    assert failure_ips(pg_url, email) == ["127.0.0.2"] * 5
    assert scalars(pg_url, select(sessions.c.ip)) == ["127.0.0.3"]
    logs = "".join(instance.log() for instance in cluster.instances)
    assert "login failed for 'ops@example.com' from 127.0.0.2" in logs
    assert "login of 'ops@example.com' from 127.0.0.3" in logs
    assert "203.0.113.9" not in logs and "from 127.0.0.1" not in logs


@pytest.mark.postgres
def test_forwarded_for_from_an_untrusted_peer_is_ignored(cluster: Cluster, pg_url: str):
    email = "direct@example.com"
    instance = cluster.instances[0].url  # bypassing nginx: the peer is 127.0.0.2, not trusted
    with browser_from("127.0.0.2", instance) as client:
        for n in range(3):
            assert log_in(client, email, "guess", {"X-Forwarded-For": f"198.51.100.{n}"}) == 401
    assert failure_ips(pg_url, email) == ["127.0.0.2"] * 3


def test_without_trusted_proxies_forwarded_headers_are_ignored(server_factory):
    # uvicorn alone would trust 127.0.0.1; Lookout's default trusts nobody.
    server = server_factory()
    email = "local@example.com"
    with browser_from("127.0.0.1", server.url) as client:
        assert log_in(client, email, "guess", {"X-Forwarded-For": "198.51.100.1"}) == 401
    assert failure_ips(server.env["LOOKOUT_DATABASE_URL"], email) == ["127.0.0.1"]
