"""Batch ids: a retried SDK batch is stored once and answered as the first time."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import msgspec
import pytest
from sqlalchemy import func, insert, select

from collector import batch_ids, tables
from collector.batch_ids import Answer
from collector.normalize import RowBatch
from collector.retention import purge_older_than
from collector.writer import BatchWriter
from lookout.app import create_app
from lookout.db import create_engine
from lookout.projects import create_project
from lookout.services import Services
from tests.collector.test_writer import _error_row, _log_row, _messages


def _body(tag: str, n: int = 5) -> bytes:
    logs = [{"message": f"{tag}-{i}"} for i in range(n)]
    logs.append({"message": 42})  # rejected: the answer has a non-empty rejected list
    return msgspec.json.encode({"logs": logs})


def _headers(project, batch_id: str | None) -> dict[str, str]:
    headers = {"X-Lookout-Key": project.public_key}
    if batch_id is not None:
        headers["X-Lookout-Batch-Id"] = batch_id
    return headers


async def _count(engine, table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


def test_parse_accepts_uuid_hex_and_refuses_junk():
    bid = uuid.uuid4().hex
    assert batch_ids.parse(bid) == bid
    assert batch_ids.parse(f" {bid} ") == bid
    assert batch_ids.parse(None) is None
    for bad in ("", "a" * 65, "x y", "ab\r\nSet-Cookie: a=b", "é", "a;b"):
        with pytest.raises(ValueError, match="X-Lookout-Batch-Id"):
            batch_ids.parse(bad)


async def test_same_batch_twice_is_stored_once_with_the_same_answer(client, project, services):
    bid = uuid.uuid4().hex
    first = await client.post(f"/api/{project.id}/ingest", content=_body("a"),
                              headers=_headers(project, bid))
    again = await client.post(f"/api/{project.id}/ingest", content=_body("a"),
                              headers=_headers(project, bid))
    assert first.status_code == again.status_code == 202
    assert first.json()["accepted"] == 5 and len(first.json()["rejected"]) == 1
    assert again.json() == first.json()
    assert sorted(await _messages(services.engine)) == [f"a-{i}" for i in range(5)]
    async with services.engine.connect() as conn:
        rolled = (await conn.execute(select(func.sum(tables.log_rollups.c.count)))).scalar_one()
    assert rolled == 5
    assert await _count(services.engine, tables.ingest_batches) == 1


async def test_concurrent_duplicates_store_once_and_neighbours_commit(client, project, services):
    bid = uuid.uuid4().hex
    url = f"/api/{project.id}/ingest"
    # The same id several times at once, plus other batches that share the transactions.
    sends = [client.post(url, content=_body("dup"), headers=_headers(project, bid))
             for _ in range(6)]
    sends += [client.post(url, content=_body(f"other{i}"), headers=_headers(project, None))
              for i in range(4)]
    answers = await asyncio.gather(*sends)
    assert [r.status_code for r in answers] == [202] * 10
    assert all(r.json() == answers[0].json() for r in answers[:6])
    stored = await _messages(services.engine)
    assert len(stored) == len(set(stored)) == 5 * 5
    assert sum(m.startswith("dup-") for m in stored) == 5


async def test_without_the_header_every_request_is_stored(client, project, services):
    for _ in range(2):
        resp = await client.post(f"/api/{project.id}/ingest", content=_body("plain"),
                                 headers=_headers(project, None))
        assert resp.status_code == 202 and resp.json()["accepted"] == 5
    assert len(await _messages(services.engine)) == 10
    assert await _count(services.engine, tables.ingest_batches) == 0


async def test_an_invalid_batch_id_is_refused_with_400(client, project, services):
    resp = await client.post(f"/api/{project.id}/ingest", content=_body("x"),
                             headers=_headers(project, "not a batch id"))
    assert resp.status_code == 400
    assert "X-Lookout-Batch-Id" in resp.json()["error"]
    assert await _messages(services.engine) == []


async def test_ids_are_per_project(client, project, services):
    other = await create_project(services.engine, f"other-{uuid.uuid4().hex[:6]}")
    bid = uuid.uuid4().hex
    for p in (project, other):
        resp = await client.post(f"/api/{p.id}/ingest", content=_body(f"p{p.id}"),
                                 headers=_headers(p, bid))
        assert resp.json()["accepted"] == 5
    assert len(await _messages(services.engine)) == 10


async def test_two_writers_racing_on_the_same_ids_store_each_batch_once(db_url):
    """Two instances (own engines, own writers) get the same batches at the same time."""
    engines = [create_engine(db_url) for _ in range(2)]
    project = await create_project(engines[0], "race")
    writers = [BatchWriter(e, concurrency=1 if db_url.startswith("sqlite") else 4)
               for e in engines]
    for w in writers:
        w.start()
    try:
        batches = 40
        jobs = []
        for b in range(batches):
            key = (project.id, f"batch{b}")
            for n, w in enumerate(writers):
                rows = RowBatch(logs=[_log_row(project.id, f"b{b}-r{r}") for r in range(3)])
                jobs.append(w.submit(rows, key, Answer(3)))
                # A batch without an id rides in the same transactions and is always stored.
                jobs.append(w.submit(RowBatch(logs=[_log_row(project.id, f"free{b}-{n}")])))
        results = await asyncio.gather(*jobs)
    finally:
        for w in writers:
            await w.stop()
    # Per id: one request wrote (None), the other got the stored answer.
    keyed = results[0::2]
    for b in range(batches):
        pair = keyed[2 * b:2 * b + 2]
        assert sorted(pair, key=lambda a: a is not None) == [None, Answer(3)]
    stored = await _messages(engines[0])
    assert len(stored) == len(set(stored)) == batches * 3 + batches * 2
    assert await _count(engines[0], tables.ingest_batches) == batches
    for e in engines:
        await e.dispose()


async def test_a_refused_record_is_answered_and_stored_with_the_id(engine):
    """A record the database refuses for good is rejected, and that answer is kept:
    a retry of the batch gets it again instead of failing (and being retried) for ever."""
    project = await create_project(engine, "p")
    writer = BatchWriter(engine)
    writer.start()
    key = (project.id, "retried")
    broken = _log_row(project.id, "x")[:-1] + (None,)  # message NOT NULL: refused
    answer = Answer(2)
    assert await writer.submit(RowBatch(logs=[_log_row(project.id, "ok"), broken]), key,
                               answer) is None
    assert answer.accepted == 1 and answer.rejected[0]["kind"] == "logs"
    again = await writer.submit(RowBatch(logs=[_log_row(project.id, "ok"), broken]), key,
                                Answer(2))
    await writer.stop()
    assert again == answer
    assert await _messages(engine) == ["ok"]


async def test_retention_removes_batch_ids_older_than_a_day(engine):
    now = time.time()
    async with engine.begin() as conn:
        await conn.execute(insert(tables.ingest_batches), [
            {"project_id": 1, "batch_id": f"old{i}", "received_at": now - 2 * 86400,
             "accepted": 1, "rejected": "[]"} for i in range(7)] + [
            {"project_id": 1, "batch_id": "new", "received_at": now - 3600, "accepted": 1,
             "rejected": "[]"}])
    deleted = await purge_older_than(engine, now - 30 * 86400, batch_rows=3)
    assert deleted["ingest_batches"] == 7
    async with engine.connect() as conn:
        left = list((await conn.execute(select(tables.ingest_batches.c.batch_id))).scalars())
    assert left == ["new"]


@pytest.mark.parametrize("other_commits", [True, False])
async def test_a_claim_waits_for_a_concurrent_transaction_with_the_same_id(engine,
                                                                           other_commits):
    """Another instance holds the id in an open transaction: commit → duplicate, rollback → ours."""
    project = await create_project(engine, "p")
    writer = BatchWriter(engine)
    writer.start()
    other = create_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        async with other.connect() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")  # hold the write lock, as a writer
            await conn.execute(insert(tables.ingest_batches).values(
                project_id=project.id, batch_id="contested", received_at=time.time(),
                accepted=7, rejected='[{"kind": "log", "index": 0, "error": "first"}]'))
            ours = asyncio.create_task(writer.submit(
                RowBatch(logs=[_log_row(project.id, "ours")]), (project.id, "contested"),
                Answer(1)))
            neighbour = asyncio.create_task(writer.submit(
                RowBatch(logs=[_log_row(project.id, "neighbour")])))
            await asyncio.sleep(0.5)  # either order gives the same result; this makes it wait
            assert not ours.done()
            await (conn.commit() if other_commits else conn.rollback())
        result = await asyncio.wait_for(ours, 30)
        await asyncio.wait_for(neighbour, 30)
    finally:
        await writer.stop()
        await other.dispose()
    if other_commits:
        assert result == Answer(7, [{"kind": "log", "index": 0, "error": "first"}])
        assert await _messages(engine) == ["neighbour"]
    else:
        assert result is None
        assert sorted(await _messages(engine)) == ["neighbour", "ours"]


async def test_a_retry_is_not_cut_by_the_error_rate_limit(settings):
    """The first send used the whole budget; its retry gets the same 202, not a 429."""
    svc = Services.build(settings.replace(rate_limit_per_minute=3))
    project = await create_project(svc.engine, "limited")
    await svc.start(background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=create_app(services=svc, background_jobs=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = msgspec.json.encode({"errors": [{"message": f"e{i}"} for i in range(3)]})
            answers = [await client.post(f"/api/{project.id}/ingest", content=body,
                                         headers=_headers(project, "spent")) for _ in range(2)]
            over = await client.post(f"/api/{project.id}/ingest", content=body,
                                     headers=_headers(project, "another"))
        assert [a.status_code for a in answers] == [202, 202]
        assert answers[1].json() == answers[0].json() == {"accepted": 3, "rejected": []}
        assert over.status_code == 429  # a new batch is limited as before
        async with svc.engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(tables.errors)))
            assert stored.scalar_one() == 3
    finally:
        await svc.stop()


async def test_batch_ids_work_on_the_error_hook_path_too(engine):
    """With an error hook the write goes through SQLAlchemy; a retried batch still writes nothing."""
    project = await create_project(engine, "p")
    seen: list[dict] = []

    async def hook(conn, rows) -> None:
        seen.extend(rows)

    writer = BatchWriter(engine, error_hook=hook)
    writer.start()
    key = (project.id, "hooked")
    results = [await writer.submit(RowBatch(errors=[_error_row(project.id)],
                                            logs=[_log_row(project.id, "hooked")]), key,
                                   Answer(2)) for _ in range(2)]
    await writer.stop()
    assert results == [None, Answer(2)]
    assert len(seen) == 1 and await _messages(engine) == ["hooked"]
