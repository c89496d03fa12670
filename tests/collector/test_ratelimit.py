"""Per-project rate limit: the shared counter (both databases) and the HTTP answers."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import msgspec
import pytest

from collector.ratelimit import RateLimiter
from lookout.app import create_app
from lookout.db import create_engine
from lookout.projects import create_project
from lookout.services import Services


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_instances_share_the_budget_and_never_exceed_it(db_url):
    clock = Clock(1_800_000_030.0)  # 30 s into a minute
    engines = [create_engine(db_url) for _ in range(2)]
    limiters = [RateLimiter(e, 25, lease=4, clock=clock) for e in engines]
    try:
        results = await asyncio.gather(*(limiters[i % 2].acquire(7, 1) for i in range(60)))
        granted = sum(d.granted for d in results)
        # Never more than the limit; at most one unused lease per other instance less.
        assert 25 - 3 <= granted <= 25
        assert {d.retry_after for d in results} == {30}
        assert (await limiters[0].acquire(8, 5)).granted == 5  # other projects unaffected
        clock.now += 60  # next minute: the budget refills
        assert (await limiters[1].acquire(7, 30)).granted == 25
        assert (await limiters[0].acquire(7, 1)).granted == 0
    finally:
        for e in engines:
            await e.dispose()


async def test_disabled_and_database_down(db_url):
    engine = create_engine(db_url)
    try:
        assert (await RateLimiter(engine, 0).acquire(1, 500)).granted == 500
    finally:
        await engine.dispose()
    down = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:  # fails open: the writer, not the limiter, decides when storage is unavailable
        assert (await RateLimiter(down, 10).acquire(1, 3)).granted == 3
    finally:
        await down.dispose()


@pytest.fixture
async def limited(settings):
    svc = Services.build(settings.replace(rate_limit_per_minute=3))
    project = await create_project(svc.engine, f"limited-{uuid.uuid4().hex[:6]}")
    await svc.start(background_jobs=False)
    transport = httpx.ASGITransport(app=create_app(services=svc, background_jobs=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, project
    await svc.stop()


def _envelope(*items: tuple[str, dict]) -> bytes:
    lines = [b"{}"]
    for kind, payload in items:
        body = msgspec.json.encode(payload)
        lines += [msgspec.json.encode({"type": kind, "length": len(body)}), body]
    return b"\n".join(lines) + b"\n"


async def test_over_the_limit_answers_429_with_sentry_headers(limited):
    client, project = limited
    url = f"/api/{project.id}/envelope/?sentry_key={project.public_key}"
    statuses = []
    for n in range(4):
        resp = await client.post(url, content=_envelope(("event", {"message": f"m{n}"})))
        statuses.append(resp.status_code)
    assert statuses == [200, 200, 200, 429]
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    secs, categories, scope = resp.headers["x-sentry-rate-limits"].split(":")
    assert secs == resp.headers["retry-after"] and categories == "error;default"
    assert scope == "project" and "limit of 3 events per minute" in resp.json()["error"]
    # Logs are not limited: stored, and the dropped event is announced in the headers.
    log = {"items": [{"timestamp": 1.8e9, "level": "info", "body": "still here"}]}
    resp = await client.post(url, content=_envelope(("event", {"message": "x"}), ("log", log)))
    assert resp.status_code == 200 and "x-sentry-rate-limits" in resp.headers
    # The Lookout SDK endpoint shares the same budget.
    resp = await client.post(f"/api/{project.id}/ingest",
                             content=msgspec.json.encode({"errors": [{"message": "e"}]}),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 429 and "retry-after" in resp.headers
