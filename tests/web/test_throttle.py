"""The login throttle against a real ``lookout serve``: concurrent guesses and spraying.

Concurrent wrong guesses once all got their password checked: the failure
count was read, then scrypt ran, then the failure was written. A 401 means
the password was checked; a 429 that it was not.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.web.conftest import EMAIL, PASSWORD, csrf_from
from web import throttle

DEFAULTS = throttle.LoginLimits()


async def _form(client: httpx.AsyncClient) -> str:
    """The login CSRF token (the pre-login cookie stays in the client's jar)."""
    return csrf_from((await client.get("/login")).text)


async def _post(client: httpx.AsyncClient, csrf: str, email: str, password: str) -> int:
    resp = await client.post("/login", data={"_csrf": csrf, "email": email,
                                             "password": password, "next": "/"})
    return resp.status_code


def _checked(log: str, email: str) -> int:
    return len(re.findall(rf"login failed for '{re.escape(email)}'", log))


@pytest.mark.parametrize("guesses", [40, 120])
async def test_concurrent_wrong_guesses_are_checked_exactly_the_allowed_number(
        db_url, server_factory, guesses):
    server = server_factory(db_url=db_url)
    server.create_user(EMAIL, PASSWORD)
    limits = httpx.Limits(max_connections=guesses, max_keepalive_connections=guesses)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120) as client:
        csrf = await _form(client)
        codes = await asyncio.gather(*(_post(client, csrf, EMAIL, f"wrong guess {i}")
                                       for i in range(guesses)))
        assert set(codes) <= {401, 429}, codes
        # Counted one after the other: exactly the allowed number were checked.
        assert codes.count(401) == DEFAULTS.max_failures, codes
        # Locked: the right password is not even checked now.
        assert await _post(client, csrf, EMAIL, PASSWORD) == 429
        assert (await client.get("/", follow_redirects=False)).status_code == 303
    server.stop()
    assert _checked(server.log_path.read_text(errors="replace"), EMAIL) == DEFAULTS.max_failures


async def test_two_instances_share_one_budget(db_url, server_factory, tmp_path):
    """Guesses spread over two instances on one database: still the allowed number."""
    servers = [server_factory(db_url=db_url, workdir=tmp_path / name) for name in ("a", "b")]
    servers[0].create_user(EMAIL, PASSWORD)
    clients = [httpx.AsyncClient(base_url=s.url, timeout=120) for s in servers]
    try:
        tokens = [await _form(c) for c in clients]
        codes = await asyncio.gather(*(_post(clients[i % 2], tokens[i % 2], EMAIL, f"guess {i}")
                                       for i in range(40)))
        assert codes.count(401) == DEFAULTS.max_failures and codes.count(429) == 35, codes
        for client, csrf in zip(clients, tokens):
            assert await _post(client, csrf, EMAIL, PASSWORD) == 429
    finally:
        for c in clients:
            await c.aclose()


async def test_one_address_cannot_spray_many_emails(db_url, server_factory):
    cap = 3
    server = server_factory(db_url=db_url, env={"LOOKOUT_LOGIN_MAX_EMAILS": str(cap)})
    server.create_user(EMAIL, PASSWORD)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        csrf = await _form(client)
        sprayed = [f"victim{i}@example.com" for i in range(cap)]
        for email in sprayed:
            assert await _post(client, csrf, email, "Summer2026!") == 401
        # A further email from this address is refused without a check ...
        assert await _post(client, csrf, EMAIL, PASSWORD) == 429
        assert await _post(client, csrf, "victim9@example.com", "Summer2026!") == 429
        # ... while the emails it already tried keep their own per-pair budget.
        assert await _post(client, csrf, sprayed[0], "Winter2026!") == 401
    server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "too many different emails from this address" in log
    assert _checked(log, "victim9@example.com") == 0 and _checked(log, EMAIL) == 0


async def test_throttle_window_and_clearing(engine):
    limits = throttle.LoginLimits(max_failures=5, max_emails=10, window=900)
    now = 1_000_000.0
    for i in range(limits.max_failures):
        assert (await throttle.reserve(engine, "a@b.c", "1.2.3.4", now + i, limits)).id
    refused = await throttle.reserve(engine, "a@b.c", "1.2.3.4", now + 10, limits)
    assert refused.id is None and refused.reason == "failures"
    assert refused.retry_after == limits.window - 10 + 1
    other_ip = await throttle.reserve(engine, "a@b.c", "5.6.7.8", now + 10, limits)
    assert other_ip.id is not None
    # Refused attempts do not extend the lock: the failures leave the window on time.
    later = await throttle.reserve(engine, "a@b.c", "1.2.3.4", now + limits.window + 1, limits)
    assert later.id is not None
    await throttle.succeeded(engine, "a@b.c", "1.2.3.4", later)
    for i in range(limits.max_failures):
        assert (await throttle.reserve(engine, "a@b.c", "1.2.3.4", now + 1000 + i, limits)).id


async def test_a_success_keeps_attempts_reserved_after_it(engine):
    limits = throttle.LoginLimits(max_failures=2, max_emails=10, window=900)
    now = 1_000_000.0
    first = await throttle.reserve(engine, "a@b.c", "1.2.3.4", now, limits)
    in_flight = await throttle.reserve(engine, "a@b.c", "1.2.3.4", now + 1, limits)
    assert first.id and in_flight.id
    await throttle.succeeded(engine, "a@b.c", "1.2.3.4", first)
    assert (await throttle.reserve(engine, "a@b.c", "1.2.3.4", now + 2, limits)).id
    assert (await throttle.reserve(engine, "a@b.c", "1.2.3.4", now + 3, limits)).id is None


async def test_throttle_caps_distinct_emails_per_address(engine):
    limits = throttle.LoginLimits(max_failures=5, max_emails=3, window=900)
    now = 1_000_000.0
    for i in range(limits.max_emails):
        assert (await throttle.reserve(engine, f"u{i}@b.c", "1.2.3.4", now + i, limits)).id
    spray = await throttle.reserve(engine, "new@b.c", "1.2.3.4", now + 5, limits)
    assert spray.id is None and spray.reason == "emails" and spray.retry_after == 900 - 5 + 1
    assert (await throttle.reserve(engine, "u0@b.c", "1.2.3.4", now + 6, limits)).id  # tried
    assert (await throttle.reserve(engine, "new@b.c", "9.9.9.9", now + 6, limits)).id
    assert (await throttle.reserve(engine, "new@b.c", "1.2.3.4", now + 901, limits)).id
