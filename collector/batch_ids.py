"""Exactly-once SDK batches: a retried batch is stored once and answered alike.

The SDK gives every batch an id (``X-Lookout-Batch-Id``) that it keeps across
retries. When an instance commits a batch and then dies, or the connection
drops before the 202 arrives, the SDK sends the batch again; without the id
its records would be stored twice.

The id is claimed in the transaction that writes the batch's rows, as the
first statement (:func:`claim`): ``INSERT .. ON CONFLICT DO NOTHING
RETURNING`` on ``(project_id, batch_id)``. Only the claimed batches' rows
are written; a batch whose id was already there writes nothing and gets the
answer stored with the id (accepted count and rejected list). So the claim
and the rows commit together or not at all, and:

* on SQLite the transaction holds the write lock (``BEGIN IMMEDIATE``), so the
  check is exact;
* on PostgreSQL a second transaction inserting the same id waits for the
  first one's unique-index entry: if the first commits, the second finds the
  conflict and writes nothing; if it rolls back, the second claims the id.
  The claim never raises, so a duplicate never fails the other requests
  grouped into the same transaction. Ids are claimed in sorted order, before
  any other lock is taken, so concurrent claims cannot deadlock.

Ids are kept for :data:`KEEP_SECONDS` (retention removes older ones); an SDK
gives up long before that.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.issues import Step
from collector.tables import ingest_batches

KEEP_SECONDS = 24 * 3600
HEADER = "x-lookout-batch-id"
_VALID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ROWS_PER_INSERT = 500  # 5 parameters a row: far below SQLite's limit per statement

Key = tuple[int, str]  # (project_id, batch_id)


@dataclass(slots=True)
class Answer:
    """What the collector answered for a batch: its 202 body."""

    accepted: int
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected}


def parse(value: str | None) -> str | None:
    """The batch id from the header value; ValueError names what is wrong with it."""
    if value is None:
        return None
    value = value.strip()
    if not _VALID.fullmatch(value):
        raise ValueError("X-Lookout-Batch-Id must be 1-64 characters of letters, digits, "
                         "'-' and '_' (the SDK sends a uuid4 in hex)")
    return value


async def stored_answer(engine: AsyncEngine, key: Key) -> Answer | None:
    """The answer stored for ``key`` if that batch is already stored (a quick look-up).

    Only a shortcut: the claim in the write transaction is what decides.
    """
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(ingest_batches.c.accepted, ingest_batches.c.rejected).where(
                ingest_batches.c.project_id == key[0], ingest_batches.c.batch_id == key[1])
        )).first()
    return None if row is None else Answer(int(row[0]), msgspec.json.decode(row[1]))


def claim(answers: dict[Key, Answer], now: float) -> Generator[Step, Any, dict[Key, Answer]]:
    """Claim every key of ``answers``; return the stored answers of keys already taken.

    A plan fragment (see :mod:`collector.store`): run it first in the write
    transaction and write only the rows of batches whose key is not returned.
    """
    table = ingest_batches.name
    keys = sorted(answers)
    claimed: set[Key] = set()
    for start in range(0, len(keys), _ROWS_PER_INSERT):
        chunk = keys[start:start + _ROWS_PER_INSERT]
        params: list[Any] = []
        for key in chunk:
            answer = answers[key]
            params += [key[0], key[1], now, answer.accepted,
                       msgspec.json.encode(answer.rejected).decode()]
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
        sql = (f"INSERT INTO {table} (project_id, batch_id, received_at, accepted, rejected) "
               f"VALUES {values} ON CONFLICT (project_id, batch_id) DO NOTHING "
               "RETURNING project_id, batch_id")
        rows = yield (sql, params, "rows")
        claimed.update((int(r[0]), str(r[1])) for r in rows)
    return (yield from stored_answers([key for key in keys if key not in claimed]))


def stored_answers(keys: list[Key]) -> Generator[Step, Any, dict[Key, Answer]]:
    """The answers stored with ``keys``: batch ids a claim found taken (a plan fragment)."""
    table = ingest_batches.name
    taken: dict[Key, Answer] = {}
    for key in keys:
        sql = f"SELECT accepted, rejected FROM {table} WHERE project_id = ? AND batch_id = ?"
        rows = yield (sql, [key[0], key[1]], "rows")
        if not rows:
            # Claimed by a transaction that then vanished (a retention race): fail this
            # write; the client's retry claims the id afresh.
            raise LookupError(f"batch {key[1]} conflicted but is not stored")
        taken[key] = Answer(int(rows[0][0]), msgspec.json.decode(rows[0][1]))
    return taken
