"""Background jobs at shutdown: drained when they finish in time, cut off in one line if not."""

from __future__ import annotations

import asyncio
import logging

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lookout.jobs import Jobs


async def started(jobs: Jobs, func) -> asyncio.Event:
    """Schedule ``func`` every 10 ms and wait (with a deadline) until a run has begun."""
    began = asyncio.Event()

    async def job() -> None:
        began.set()
        await func()

    jobs.every("test-job", 0.01, job)
    jobs.scheduler.start()
    async with asyncio.timeout(10):
        await began.wait()
    return began


async def test_stop_waits_for_a_running_job(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    release = asyncio.Event()
    finished: list[bool] = []

    async def slow() -> None:
        await release.wait()
        finished.append(True)

    jobs = Jobs(AsyncIOScheduler())
    await started(jobs, slow)
    stopping = asyncio.create_task(jobs.stop(wait_seconds=10))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # still waiting for the job
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert finished == [True]
    assert not jobs.scheduler.running
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_job_still_running_is_cut_off_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def forever() -> None:
        await asyncio.Event().wait()

    jobs = Jobs(AsyncIOScheduler())
    await started(jobs, forever)
    await asyncio.wait_for(jobs.stop(wait_seconds=0.05), 10)
    await asyncio.sleep(0)  # let the executor see how its task ended
    messages = [r.getMessage() for r in caplog.records]
    assert "background job cut off at shutdown" in messages
    assert "background jobs still running at shutdown are cut off" in messages
    # APScheduler logs a cancelled job as "Job ... raised an exception" with a traceback.
    assert not [r for r in caplog.records if r.exc_info], messages
    assert not [m for m in messages if "raised an exception" in m]


async def test_no_new_run_starts_after_stop() -> None:
    runs: list[int] = []

    async def count() -> None:
        runs.append(1)

    jobs = Jobs(AsyncIOScheduler())
    await started(jobs, count)
    await jobs.stop(wait_seconds=1)
    after = len(runs)
    await asyncio.sleep(0.1)
    assert len(runs) == after
