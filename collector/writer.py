"""The single write path: group commit across requests, acknowledge on commit.

Every ingest request hands its rows to :meth:`BatchWriter.submit` and waits.
One background task takes whatever is queued (up to ``batch_records``),
writes it in a single transaction and then resolves every waiting request.
Under load that turns many small requests into few large transactions (one
fsync on SQLite, one COPY per table on PostgreSQL) while each request still
gets its 202 only after its own rows are committed.

A request may carry a batch id (``key``): the transaction claims the ids of
its requests first and writes only the rows of batches not stored before
(:mod:`collector.batch_ids`); a duplicate's request is answered with the
stored answer instead.

Back-pressure instead of buffering: when more than ``queue_records`` rows are
waiting, or the database fails, ``submit`` raises
:class:`~lookout.errors.StorageUnavailable` and the client is told to retry
(503 + Retry-After). Nothing is kept in memory that was not acknowledged.

A record the database refuses for good (a value no statement can store:
over an index's size limit, out of a column's range) must not fail its
batch for ever, answered 503 and retried by the SDK while everything after
it waits. When a transaction fails that way, the writer finds the refused
records by halves in trial transactions that are rolled back
(:meth:`BatchWriter._find_refused`), reports each through the job's
``refuse`` callback (the batch is answered 202 with them in ``rejected``) and
commits the rest. Outages and other transient failures stay 503.

While the database refuses writes (down, disk full, read-only file) the
writer says so once in the log, with the likely cause, and once more when
writes work again, not once per failed request; :attr:`BatchWriter.failure`
lets ``/readyz`` report it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector import batch_ids, issues, small_batch, store
from collector.batch_ids import Answer, Key
from collector.normalize import RowBatch
from lookout import metrics
from lookout.db import database_unavailable
from lookout.db import now as wall_clock
from lookout.errors import Overloaded, StorageUnavailable

log = logging.getLogger("lookout.writer")

# Called once per record the database refused: (RowBatch attribute, position, reason).
Refuse = Callable[[str, int, str], None]
# Trial transactions spent finding refused records in one batch. Halving finds k
# refused records among n in about 2k*log2(n) trials; past this the records not
# yet cleared are refused with the others rather than holding up the writer.
MAX_TRIALS = 64
_KINDS = ("logs", "errors", "metrics", "requests", "spans")
_UNCHECKED = ("another record of this batch could not be stored, and the batch was too big "
              "to check every record")
# SQLSTATE classes meaning "this data can never be stored": data exception (22),
# integrity constraint (23), program limit exceeded (54, e.g. index row size).
_REFUSING_CLASSES = frozenset({"22", "23", "54"})

# What SQLite's terse messages usually mean for someone running Lookout.
_SQLITE_CAUSES = {
    "database or disk is full": "the disk holding the database is full",
    "disk I/O error": "the database file cannot be written (disk full, a file size limit "
                      "or a failing disk)",
    "attempt to write a readonly database": "the database file or its directory is read-only",
    "unable to open database file": "the database file cannot be opened (missing directory "
                                    "or permissions)",
}


@dataclass(slots=True)
class _Job:
    rows: RowBatch
    key: Key | None = None
    answer: Answer | None = None  # stored with ``key``, for retries of this batch
    refuse: Refuse | None = None  # told of each record the database refuses for good
    done: asyncio.Future[Answer | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class BatchWriter:
    """Commits rows from many requests in shared transactions."""

    def __init__(self, engine: AsyncEngine, *, queue_records: int = 200_000,
                 batch_records: int = 20_000, timeout: float = 20.0,
                 error_hook: store.ErrorHook | None = None, concurrency: int = 1,
                 clock: Callable[[], float] = time.monotonic,
                 tag_limits: issues.TagLimits = issues.DEFAULT_TAG_LIMITS) -> None:
        self.engine = engine
        self.tag_limits = tag_limits  # caps on custom tag counts per issue
        # Transactions in flight at once. 1 for SQLite (one writer anyway); more on
        # PostgreSQL, whose group commit lets concurrent commits share one WAL flush.
        self.concurrency = max(1, concurrency)
        self.queue_records = queue_records
        self.batch_records = batch_records
        self.timeout = timeout
        self.error_hook = error_hook
        self._clock = clock
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._queued = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # Without a hook, transactions run straight on the driver (see _commit_direct)
        # on connections the writer keeps between transactions.
        self._is_pg = engine.dialect.name == "postgresql"
        self._direct = error_hook is None and engine.dialect.driver in ("aiosqlite", "asyncpg")
        self._idle: list[AsyncConnection] = []
        self.failure: str | None = None
        """Why writes are failing now; None once a write succeeds again."""
        self.failed_at = 0.0  # when the last write failed (``clock`` time)
        self._failed_writes = 0

    def failing(self, within: float) -> str | None:
        """Why writes fail, if the last one failed less than ``within`` seconds ago."""
        if self.failure is not None and self._clock() - self.failed_at < within:
            return self.failure
        return None

    @property
    def queued_records(self) -> int:
        return self._queued

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="lookout-writer")

    async def stop(self) -> None:
        """Write everything already accepted into the queue, then stop."""
        self._closing = True
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None
        while self._idle:
            await self._idle.pop().close()

    async def submit(self, rows: RowBatch, key: Key | None = None,
                     answer: Answer | None = None,
                     refuse: Refuse | None = None) -> Answer | None:
        """Return once ``rows`` are committed; raise StorageUnavailable otherwise.

        With ``key`` (project id, batch id) and the ``answer`` the request will
        get, the rows are written only if that batch was not stored before;
        if it was, nothing is written and the answer stored then is returned.
        Records the database refuses for good are left out and passed to
        ``refuse`` (which should update ``answer``: it is stored after the call).
        """
        size = len(rows)
        if size == 0:
            return None  # nothing to store; a retry would get the same answer anyway
        if self._closing:
            raise StorageUnavailable("server is shutting down", retry_after=2)
        if self._queued + size > self.queue_records and self._queued > 0:
            metrics.INGEST_BACKPRESSURE.inc()
            raise Overloaded("write queue is full", retry_after=1)
        job = _Job(rows, key, (answer or Answer(size)) if key is not None else None, refuse)
        self._queued += size
        metrics.WRITE_QUEUE.set(self._queued)
        await self._queue.put(job)
        # A timer instead of asyncio.wait_for(shield(...)): a third of the cost per
        # request. A client that disconnects cancels only its wait; the rows are
        # already the writer's and are written all the same.
        timer = asyncio.get_running_loop().call_later(self.timeout, _expire, job.done)
        try:
            return await job.done
        finally:
            timer.cancel()

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[None]] = set()
        stopping = False
        while not stopping:
            # Take a slot first: while every slot is busy, requests pile up in the
            # queue and the next transaction carries all of them.
            await slots.acquire()
            first = await self._queue.get()
            if first is None:
                slots.release()
                break
            # One turn of the event loop lets requests already being parsed join
            # this transaction: bigger groups, fewer commits, no added wait.
            await asyncio.sleep(0)
            group, size = [first], len(first.rows)
            stopping = self._take(group, size)
            held = 1
            if self.concurrency > 1 and not stopping and any(j.rows.errors for j in group):
                # Error events lock their issues' rows until commit, so transactions
                # with errors queue behind each other anyway: run this one alone, and
                # let it carry everything that arrives while the others finish.
                for _ in range(self.concurrency - 1):
                    await slots.acquire()
                held = self.concurrency
                stopping = self._take(group, sum(len(j.rows) for j in group))
            size = sum(len(j.rows) for j in group)
            task = asyncio.create_task(self._write_slot(group, size, slots, held))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.gather(*running)
        # Drain anything that raced with stop(): accepted work is never dropped.
        rest = []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                rest.append(job)
        if rest:
            await self._write_group(rest, sum(len(j.rows) for j in rest))

    def _take(self, group: list[_Job], size: int) -> bool:
        """Add queued jobs to ``group`` up to ``batch_records``; True when stop() was queued."""
        while size < self.batch_records and not self._queue.empty():
            nxt = self._queue.get_nowait()
            if nxt is None:
                return True
            group.append(nxt)
            size += len(nxt.rows)
        return False

    async def _write_slot(self, group: list[_Job], size: int, slots: asyncio.Semaphore,
                          held: int) -> None:
        try:
            await self._write_group(group, size)
        finally:
            for _ in range(held):
                slots.release()

    async def _write_group(self, group: list[_Job], size: int) -> None:
        started = self._clock()
        taken: dict[Key, Answer] = {}
        try:
            await self._commit(group, taken)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a 503, never a crash
            if len(group) > 1 and not database_unavailable(exc):
                # One bad job must not fail its neighbours: retry each on its own.
                for job in group:
                    await self._write_group([job], len(job.rows))
                return
            if refuses_rows(exc):
                try:
                    await self._write_refusing(group[0], exc)
                    return
                except Exception as again:  # noqa: BLE001 - answered 503 below
                    exc = again
            reason = storage_problem(exc)
            metrics.WRITE_FAILURES.inc()
            if not database_unavailable(exc):
                log.warning("write failed", extra={"error": reason, "records": size})
            elif reason != self.failure:  # once per outage, not once per request
                log.error("database writes are failing; ingest answers 503 until they work",
                          extra={"error": reason, "records": size})
            if database_unavailable(exc):
                self.failure, self.failed_at = reason, self._clock()
                self._failed_writes += 1
            self._finish(group, size, StorageUnavailable(reason))
            return
        if self.failure is not None:
            log.warning("database writes work again",
                        extra={"failed_writes": self._failed_writes, "was": self.failure})
            self.failure, self._failed_writes = None, 0
        metrics.WRITE_LATENCY.observe(self._clock() - started)
        metrics.WRITE_BATCH_RECORDS.observe(size)
        self._finish(group, size, None, taken)

    async def _write_refusing(self, job: _Job, error: BaseException) -> None:
        """Write ``job`` without the records the database refuses; report those."""
        refused = await self._find_refused(job.rows, error)
        for (attr, position), reason in sorted(refused.items()):
            log.warning("record refused by the database",
                        extra={"kind": attr, "error": reason})
            if job.refuse is not None:
                job.refuse(attr, position, reason)
            elif job.answer is not None:
                job.answer.accepted -= 1
                job.answer.rejected.append({"kind": attr, "index": None,
                                            "error": f"not stored: {reason}"})
        rest = _Job(_without(job.rows, refused), job.key, job.answer, done=job.done)
        taken: dict[Key, Answer] = {}
        if len(rest.rows) or rest.key is not None:
            await self._commit([rest], taken)
        self._finish([job], len(job.rows), None, taken)

    async def _find_refused(self, rows: RowBatch, error: BaseException
                            ) -> dict[tuple[str, int], str]:
        """The records of ``rows`` the database refuses, with why, found by halves.

        Each half is written in a trial transaction that is rolled back; a half
        that fails is split again. A transient failure of a trial is raised
        (the batch is answered 503 and retried).
        """
        records = [(attr, i) for attr in _KINDS for i in range(len(getattr(rows, attr)))]
        refused: dict[tuple[str, int], str] = {}
        if len(records) == 1:
            refused[records[0]] = storage_problem(error)
            return refused
        parts, trials = _halves(records), 0
        while parts:
            part = parts.pop()
            if trials >= MAX_TRIALS:
                refused.update((r, _UNCHECKED) for r in part)
                continue
            trials += 1
            failure = await self._try(_subset(rows, part))
            if failure is None:
                continue
            if not refuses_rows(failure):
                raise failure
            if len(part) == 1:
                refused[part[0]] = storage_problem(failure)
            else:
                parts.extend(_halves(part))
        return refused

    async def _try(self, rows: RowBatch) -> BaseException | None:
        """Write ``rows`` in a transaction that is rolled back; the error, if any."""
        steps = self._plan([_Job(rows)], {})
        try:
            if not self._direct:
                async with self.engine.connect() as conn:
                    transaction = await conn.begin()
                    try:
                        await store.run_plan(conn, steps)
                    finally:
                        await transaction.rollback()
            else:
                await self._commit_direct(steps, rollback=True)
        except Exception as exc:  # noqa: BLE001 - the caller decides what it means
            return exc
        return None

    def _plan(self, group: list[_Job], taken: dict[Key, Answer]) -> store.Plan:
        # The plan may run on another thread (SQLite): look up shared state here.
        return _group_plan(group, taken, self._is_pg, issues.id_cache(self.engine.sync_engine),
                           wall_clock(), self.tag_limits)

    async def _commit(self, group: list[_Job], taken: dict[Key, Answer]) -> None:
        if not self._direct:
            async with self.engine.begin() as conn:
                await store.run_plan(conn, self._plan(group, taken), self.error_hook)
            return
        await self._commit_direct(self._plan(group, taken))

    async def _commit_direct(self, steps: store.Plan, rollback: bool = False) -> None:
        """One transaction straight on the driver, on a connection the writer keeps.

        Through SQLAlchemy a transaction cost a pool checkout with a ping (one
        more round trip on PostgreSQL), a greenlet switch per statement and, on
        SQLite, half a dozen thread hops and GIL hand-overs; at a few events per
        transaction that was a third of the CPU per event. Here SQLite runs the
        whole transaction in one call on aiosqlite's thread and PostgreSQL runs
        it on the asyncpg connection. A connection that failed is thrown away
        (the next transaction opens a new one). The error hook takes an
        AsyncConnection, so with a hook the ordinary path is used.
        """
        conn = self._idle.pop() if self._idle else await self.engine.connect()
        try:
            driver = (await conn.get_raw_connection()).driver_connection
            if self._is_pg:
                await store.asyncpg_transaction(driver, steps, rollback)
            else:
                await driver._execute(store.sqlite_transaction, driver._conn, steps, rollback)
        except BaseException:
            await _discard(conn)
            raise
        self._idle.append(conn)

    def _finish(self, group: list[_Job], size: int, failure: Exception | None,
                taken: dict[Key, Answer] | None = None) -> None:
        self._queued -= size
        metrics.WRITE_QUEUE.set(self._queued)
        first: dict[Key, Answer | None] = {}  # answer of the job that wrote each batch
        for job in group:
            result: Answer | None = None
            if job.key is not None:
                if taken and job.key in taken:
                    result = taken[job.key]
                elif job.key in first:
                    result = first[job.key]  # sent twice within this transaction
                else:
                    first[job.key] = job.answer
            if job.done.done():
                continue
            if failure is not None:
                job.done.set_exception(failure)
            else:
                job.done.set_result(result)


def _group_plan(group: list[_Job], taken: dict[Key, Answer], is_pg: bool,
                id_cache: dict[tuple[int, str], int], now: float,
                tag_limits: issues.TagLimits = issues.DEFAULT_TAG_LIMITS
                ) -> Generator[issues.Step, Any, list[dict[str, Any]]]:
    """Claim the group's batch ids, then write the rows of the batches that are new.

    ``taken`` receives the stored answers of batches that were already there
    (their rows are skipped). A batch sent twice within the group is written once.
    """
    taken.clear()
    if is_pg and small_batch.applies([job.rows for job in group]):
        # A small batch of logs, spans and request records: one statement.
        firsts: dict[Key, _Job] = {}
        jobs = []
        for job in group:
            if job.key is not None:
                if job.key in firsts:
                    continue  # sent twice within this transaction: written once
                firsts[job.key] = job
            jobs.append((job.key, job.answer, job.rows))
        prepared = small_batch.prepare(jobs, now)
        if prepared is not None:
            taken.update((yield from small_batch.plan(prepared)))
            return []
    answers = {job.key: job.answer for job in group
               if job.key is not None and job.answer is not None}
    if answers:
        taken.update((yield from batch_ids.claim(answers, now)))
    merged, owners = RowBatch(), set()
    for job in group:
        if job.key is not None:
            if job.key in taken or job.key in owners:
                continue
            owners.add(job.key)
        merged.extend(job.rows)
    return (yield from store.plan(merged, is_pg, id_cache, now, tag_limits))


def refuses_rows(error: BaseException) -> bool:
    """True when ``error`` is the database refusing the data itself, for good.

    That is a data or constraint error or a size limit (SQLSTATE classes 22,
    23, 54; SQLite's IntegrityError and DataError), or a value a driver could
    not encode. Outages, timeouts, deadlocks and serialization failures are
    transient: the batch is answered 503 and the client retries it.
    """
    if database_unavailable(error):
        return False
    seen: BaseException | None = error
    for _ in range(4):  # the driver's error, SQLAlchemy's wrapper, their causes
        if seen is None:
            break
        if isinstance(seen, (sqlite3.IntegrityError, sqlite3.DataError)):
            return True
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str) and len(state) == 5:
            return state[:2] in _REFUSING_CLASSES
        seen = getattr(seen, "orig", None) or seen.__cause__
    return isinstance(error, (ValueError, TypeError, OverflowError))


def _halves(records: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    middle = len(records) // 2
    return [records[:middle], records[middle:]]


def _subset(rows: RowBatch, records: list[tuple[str, int]]) -> RowBatch:
    out = RowBatch()
    for attr, position in records:
        getattr(out, attr).append(getattr(rows, attr)[position])
    return out


def _without(rows: RowBatch, refused: dict[tuple[str, int], str]) -> RowBatch:
    out = RowBatch()
    for attr in _KINDS:
        getattr(out, attr).extend(row for i, row in enumerate(getattr(rows, attr))
                                  if (attr, i) not in refused)
    return out


def _expire(done: asyncio.Future[Answer | None]) -> None:
    if not done.done():
        done.set_exception(StorageUnavailable("database did not commit in time", retry_after=5))


async def _discard(conn: AsyncConnection) -> None:
    """Drop a connection whose transaction failed: its state is unknown."""
    try:
        await conn.invalidate()
        await conn.close()
    except Exception as exc:  # noqa: BLE001 - it is being thrown away anyway
        log.debug("discarding a failed connection", extra={"error": _describe(exc)})


def storage_problem(exc: BaseException) -> str:
    """One line for the client and the log: what failed and, when known, why."""
    text = _describe(exc)
    for message, cause in _SQLITE_CAUSES.items():
        if message in text:
            return f"{text}: {cause}"
    return f"database unavailable: {text}"


def _describe(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
