"""BatchWriter with several transactions in flight (PostgreSQL's setting) on both databases."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import func, select

from collector import tables
from collector.normalize import RowBatch
from collector.writer import BatchWriter


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
