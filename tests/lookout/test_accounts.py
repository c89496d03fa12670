"""Password hashing: current scrypt parameters, old hashes still verify and are upgraded."""

from __future__ import annotations

from sqlalchemy import select, update

from lookout import accounts
from lookout.accounts import create_user, hash_password, needs_rehash, verify_password
from lookout.tables import users
from tests.web.conftest import EMAIL, PASSWORD, login

OLD = (2**14, 8, 1)  # what Lookout used before


def test_new_hashes_meet_owasp_minimum_and_carry_their_parameters():
    stored = hash_password("s3cret password")
    scheme, n, r, p, _salt, _digest = stored.split("$")
    assert scheme == "scrypt" and int(n) >= 2**17 and (int(r), int(p)) == (8, 1)
    assert verify_password("s3cret password", stored)  # maxmem allows N=2**17
    assert not verify_password("other password", stored)
    assert not needs_rehash(stored)
    old = hash_password("s3cret password", *OLD)
    assert verify_password("s3cret password", old) and needs_rehash(old)
    assert not verify_password("x", "bcrypt$whatever") and not verify_password("x", "junk")


async def _stored(engine) -> str:
    async with engine.connect() as conn:
        return (await conn.execute(select(users.c.password_hash)
                                   .where(users.c.email == EMAIL))).scalar_one()


async def test_old_hash_keeps_working_and_is_upgraded_on_login(client, services):
    engine = services.engine
    await create_user(engine, EMAIL, PASSWORD)
    old = hash_password(PASSWORD, *OLD)
    async with engine.begin() as conn:
        await conn.execute(update(users).where(users.c.email == EMAIL)
                           .values(password_hash=old))
    assert (await login(client, password="wrong password")).status_code == 401
    assert await _stored(engine) == old  # a wrong password proves nothing: no rehash
    assert (await login(client)).status_code == 303
    upgraded = await _stored(engine)
    assert upgraded != old and not needs_rehash(upgraded)
    assert upgraded.startswith(f"scrypt${accounts._N}$8$1$")
    client.cookies.clear()
    assert (await login(client)).status_code == 303  # the new hash verifies
    assert await _stored(engine) == upgraded  # and is left alone


async def test_password_checks_run_at_most_hash_threads_at_once(engine, monkeypatch):
    """A burst of logins (different emails, so no throttle applies) cannot run more
    scrypt checks at once than LOOKOUT_LOGIN_HASH_THREADS: each takes 128 MiB."""
    import asyncio
    import threading

    running, peak, lock = 0, 0, threading.Lock()
    # Checks leave only in threes: proof that three run at once, and the time in which
    # a fourth would start if the pool allowed it.
    together = threading.Barrier(3, timeout=30)

    def slow_verify(password: str, stored: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        together.wait()
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(accounts, "verify_password", slow_verify)
    results = await asyncio.gather(*(accounts.authenticate(engine, f"u{i}@example.com", "pw",
                                                           hash_threads=3) for i in range(12)))
    assert results == [None] * 12
    assert peak == 3
