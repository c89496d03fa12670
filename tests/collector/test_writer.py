"""The batch writer: group commit, back-pressure, database failure and recovery."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from collector import issue_tables, tables
from collector.normalize import LOG_COLUMNS, RowBatch
from collector.writer import BatchWriter
from lookout.app import create_app
from lookout.db import create_engine
from lookout.errors import Overloaded
from lookout.projects import create_project
from lookout.services import Services
from tests.support.tcp_proxy import TcpProxy


def _log_row(project_id: int, message: str) -> tuple:
    values = dict(project_id=project_id, ts=time.time(), received_at=time.time(), service="s",
                  environment="", release="", host="", request_id=None, trace_id=None,
                  attributes="{}", level=20, logger="", message=message)
    return tuple(values[c] for c in LOG_COLUMNS)


async def _messages(engine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(tables.logs.c.message))).scalars())


async def test_concurrent_clients_lose_and_duplicate_nothing(client, project, services):
    clients, batches, per_batch = 16, 10, 50

    async def one_client(c: int) -> int:
        sent = 0
        for b in range(batches):
            body = {"logs": [{"message": f"c{c}-b{b}-r{r}"} for r in range(per_batch)]}
            resp = await client.post(f"/api/{project.id}/ingest", content=msgspec.json.encode(body),
                                     headers={"X-Lookout-Key": project.public_key})
            assert resp.status_code == 202, resp.text
            sent += resp.json()["accepted"]
        return sent

    sent = sum(await asyncio.gather(*(one_client(c) for c in range(clients))))
    stored = await _messages(services.engine)
    assert sent == clients * batches * per_batch
    assert len(stored) == sent
    assert len(set(stored)) == sent
    async with services.engine.connect() as conn:
        rolled = (await conn.execute(select(func.sum(tables.log_rollups.c.count)))).scalar_one()
    assert rolled == sent


async def test_full_queue_answers_overloaded_then_drains(engine):
    project = await create_project(engine, "p")
    writer = BatchWriter(engine, queue_records=100, batch_records=1000, timeout=10)
    first = asyncio.ensure_future(writer.submit(
        RowBatch(logs=[_log_row(project.id, f"a{i}") for i in range(80)])))
    await asyncio.sleep(0)  # let the first job enter the (not yet started) queue
    assert writer.queued_records == 80
    with pytest.raises(Overloaded):
        await writer.submit(RowBatch(logs=[_log_row(project.id, f"b{i}") for i in range(30)]))
    writer.start()
    await asyncio.wait_for(first, 10)
    await writer.stop()
    assert len(await _messages(engine)) == 80


async def test_stop_writes_everything_accepted(engine):
    project = await create_project(engine, "p")
    writer = BatchWriter(engine, batch_records=10)
    writer.start()
    jobs = [asyncio.ensure_future(writer.submit(RowBatch(logs=[_log_row(project.id, f"m{i}")])))
            for i in range(50)]
    await asyncio.sleep(0)
    await writer.stop()
    await asyncio.gather(*jobs)
    assert len(await _messages(engine)) == 50


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_database_outage_gives_503_then_recovers_without_losing_acked(db_url, settings):
    """The outage is a cut TCP connection between Lookout and PostgreSQL."""
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        svc = Services.build(settings.replace(database_url=proxied, write_timeout=5))
        project = await create_project(svc.engine, "p")
        app = create_app(services=svc, background_jobs=False)
        await svc.start(background_jobs=False)
        acked: set[str] = set()
        statuses: list[int] = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as http:
            async def send(tag: str) -> httpx.Response:
                body = {"logs": [{"message": f"{tag}-{i}"} for i in range(20)]}
                resp = await http.post(f"/api/{project.id}/ingest",
                                       content=msgspec.json.encode(body),
                                       headers={"X-Lookout-Key": project.public_key})
                statuses.append(resp.status_code)
                if resp.status_code == 202:
                    acked.update(f"{tag}-{i}" for i in range(20))
                return resp

            assert (await send("before")).status_code == 202
            proxy.cut()
            down = await send("during")
            assert down.status_code == 503
            assert int(down.headers["retry-after"]) > 0
            assert "retry" in down.json()["error"]
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            proxy.restore()
            deadline = time.monotonic() + 30
            n = 0
            while time.monotonic() < deadline:
                n += 1
                if (await send(f"after{n}")).status_code == 202:
                    break
                await asyncio.sleep(0.2)
            assert statuses[-1] == 202, statuses
            assert (await http.get("/readyz")).status_code == 200
        await svc.stop()
    finally:
        proxy.stop()
    check = create_engine(db_url)
    stored = set(await _messages(check))
    await check.dispose()
    assert acked <= stored
    assert {s for s in stored if s.startswith("during")} == set()


def _error_row(project_id: int) -> dict:
    now = time.time()
    return dict(project_id=project_id, ts=now, received_at=now, service="s", environment="",
                release="", host="", request_id=None, trace_id=None, attributes="{}",
                event_id=uuid.uuid4().hex, level=40, logger="", message="boom",
                exception="[]", platform="python", source="lookout", handled=None, extra="{}")


async def test_concurrent_transactions_commit_everything_and_stop_drains(engine):
    writer = BatchWriter(engine, concurrency=3, batch_records=5)
    writer.start()
    batches = [RowBatch(errors=[_error_row(1), _error_row(1)]) for _ in range(40)]
    await asyncio.gather(*(writer.submit(b) for b in batches[:30]))
    pending = [asyncio.create_task(writer.submit(b)) for b in batches[30:]]
    await asyncio.sleep(0)  # queued, not yet written
    await writer.stop()  # must write what was accepted before stopping
    await asyncio.gather(*pending)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(tables.errors))).scalar()
        grouped = (await conn.execute(select(func.count()).select_from(tables.errors)
                                      .where(tables.errors.c.issue_id.is_not(None)))).scalar()
    assert stored == grouped == 80
    assert writer.queued_records == 0


async def test_failed_transaction_rolls_back_alone_and_the_next_one_commits(engine):
    """Transactions run straight on a kept connection: a failure must not poison it."""
    project = await create_project(engine, "p")
    writer = BatchWriter(engine, timeout=10)
    writer.start()
    broken = _log_row(project.id, "broken")
    broken = (*broken[:LOG_COLUMNS.index("ts")], None, *broken[LOG_COLUMNS.index("ts") + 1:])
    refused: list[tuple[str, int, str]] = []
    # The row the database refuses (ts NOT NULL) is left out and reported; its neighbour
    # in the failed transaction is written on its own.
    await writer.submit(RowBatch(logs=[_log_row(project.id, "same-batch"), broken]),
                        refuse=lambda *r: refused.append(r))
    await writer.submit(RowBatch(logs=[_log_row(project.id, "after")]))
    await writer.stop()
    assert sorted(await _messages(engine)) == ["after", "same-batch"]
    assert [(kind, at) for kind, at, _ in refused] == [("logs", 1)]
    assert "ts" in refused[0][2]


async def test_error_hook_sees_new_errors_in_the_write_transaction(engine):
    """With a hook the write runs in a SQLAlchemy transaction; same rows, same grouping."""
    project = await create_project(engine, "p")
    seen: list[dict] = []

    async def hook(conn, rows) -> None:
        # Inside the transaction: the rows it was given are visible on its connection.
        count = (await conn.execute(select(func.count()).select_from(tables.errors))).scalar()
        assert count >= len(rows)
        seen.extend(rows)

    writer = BatchWriter(engine, error_hook=hook)
    writer.start()
    first = _error_row(project.id)
    logs = [_log_row(project.id, "with-errors")]
    await writer.submit(RowBatch(errors=[first, _error_row(project.id)], logs=logs))
    await writer.submit(RowBatch(errors=[dict(first)]))  # a retry of the same event
    await writer.stop()
    assert len(seen) == 2
    assert all(r["issue_id"] and r["fingerprint"] for r in seen)
    assert await _messages(engine) == ["with-errors"]
    async with engine.connect() as conn:
        counted = (await conn.execute(select(func.sum(issue_tables.issues.c.event_count)))).scalar()
    assert counted == 2


async def test_transactions_with_errors_run_one_at_a_time_and_carry_what_queued(engine):
    """They lock the same issue rows anyway: with 3 slots they still run alone, bigger."""
    project = await create_project(engine, "p")
    active, peak, transactions = 0, 0, 0

    async def hook(_conn, _rows) -> None:  # runs inside each write transaction
        nonlocal active, peak, transactions
        active += 1
        transactions += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1

    writer = BatchWriter(engine, concurrency=3, error_hook=hook)
    writer.start()
    submits = []
    for n in range(30):  # arriving while earlier ones run; separate issues, no shared locks
        word = "abcdefghijklmnopqrstuvwxyz"[n % 26] * (n + 1)  # grouping ignores digits
        row = dict(_error_row(project.id), message=f"bug in {word}")
        submits.append(asyncio.create_task(writer.submit(RowBatch(errors=[row]))))
        await asyncio.sleep(0.005)
    await asyncio.gather(*submits)
    await writer.stop()
    assert peak == 1, (peak, transactions)
    assert transactions < 30  # requests that queued meanwhile shared transactions
    async with engine.connect() as conn:
        counted = (await conn.execute(select(func.sum(issue_tables.issues.c.event_count)))).scalar()
    assert counted == 30
