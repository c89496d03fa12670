"""The background sender: one daemon thread between the app and the network.

App threads only ever append to a bounded ``deque`` (a C-level atomic
operation): they never wait for a lock held during I/O and never touch a
socket. When the queue is full the *newest* record is dropped and counted by
kind; the counts ride along in a later batch as ``dropped`` so the collector
can report them.

The thread wakes every ``flush_interval`` seconds, or early when a full batch
is waiting or someone calls :meth:`Worker.flush`. It takes up to
``max_batch_records`` records / ``max_batch_bytes`` bytes, scrubs them, runs
``before_send``, encodes, gzips and sends. A batch that gets 429/5xx or a
connection error is kept and retried after ``Retry-After`` or an
exponential backoff with jitter; nothing it has taken is dropped for those
reasons. A batch keeps its id (``X-Lookout-Batch-Id``) across retries, so a
retry of a batch the collector did store is not stored again. Other 4xx
answers drop the batch (retrying cannot help), except 413, which splits the
batch in halves first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Callable, Optional

from lookout_sdk import _batch, _hub
from lookout_sdk._batch import Batch
from lookout_sdk._scrub import Scrubber
from lookout_sdk.errors import TransportError
from lookout_sdk.transport import Request, Transport

log = logging.getLogger("lookout_sdk")

BATCH_ID_HEADER = "X-Lookout-Batch-Id"
BeforeSend = Callable[[dict, str], Optional[dict]]
MetricSource = Callable[[bool], list]


class Worker:
    """Owns the queue and the sending thread of one configured client."""

    def __init__(self, *, url: str, headers: Mapping[str, str], resource: Mapping[str, Any],
                 transport: Transport, max_queue: int, flush_interval: float,
                 max_batch_records: int, max_batch_bytes: int, scrubber: Scrubber,
                 before_send: BeforeSend | None = None,
                 metric_source: MetricSource | None = None,
                 retry_max_delay: float = 10.0) -> None:
        self.url = url
        self.headers = dict(headers)
        self.resource = dict(resource)
        self.transport = transport
        self.max_queue = max(1, int(max_queue))
        self.flush_interval = max(0.01, float(flush_interval))
        self.max_batch_records = max(1, int(max_batch_records))
        self.max_batch_bytes = max(1024, int(max_batch_bytes))
        self.scrubber = scrubber
        self.before_send = before_send
        self.metric_source = metric_source
        self.retry_max_delay = retry_max_delay
        self._init_state()

    def _init_state(self) -> None:
        """Fresh queue, locks and thread state (at start and in a forked child)."""
        self._queue: deque[tuple[str, dict]] = deque()
        self._wake = threading.Event()
        self._cond = threading.Condition(threading.Lock())
        self._drop_lock = threading.Lock()
        self._dropped: dict[str, int] = {}
        self._retry: deque[Batch] = deque()
        self._retry_at = 0.0
        self._flush_requested = 0
        self._flushed = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._refusals: dict[int, float] = {}

    # --- app side -------------------------------------------------------------------------

    def enqueue(self, kind: str, record: dict) -> None:
        """Hand a record to the sender; O(1), never blocks, never raises on overflow."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.count_dropped(kind)
            return
        queue.append((kind, record))
        if len(queue) >= self.max_batch_records and not self._wake.is_set():
            self._wake.set()

    def count_dropped(self, kind: str, n: int = 1) -> None:
        with self._drop_lock:
            self._dropped[kind] = self._dropped.get(kind, 0) + n

    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        thread = threading.Thread(target=self._run, name="lookout-sdk-sender", daemon=True)
        thread.start()
        self._thread = thread

    def flush(self, timeout: float) -> bool:
        """Send everything queued (and aggregated metrics) now; wait up to ``timeout`` s.

        True when all of it was delivered (or definitively refused) in time.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            self._flush_requested += 1
            target = self._flush_requested
        self._wake.set()
        with self._cond:
            while self._flushed < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float) -> bool:
        """Flush within ``timeout``, then stop the thread and the transport."""
        done = self.flush(timeout) if self._thread is not None else True
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(min(0.5, max(0.0, timeout)))
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001
            pass
        return done

    def after_fork(self) -> None:
        """In a forked child: forget the parent's records, locks and connection."""
        self._init_state()
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001
            pass
        self.start()

    # --- sender thread --------------------------------------------------------------------

    def _run(self) -> None:
        _hub.guard.busy = True  # nothing logged on this thread is captured
        next_tick = time.monotonic() + self.flush_interval
        while not self._stopping:
            try:
                next_tick = self._cycle(next_tick)
            except BaseException:
                log.debug("lookout_sdk: unexpected error in the sender", exc_info=True)
                time.sleep(0.1)

    def _cycle(self, next_tick: float) -> float:
        now = time.monotonic()
        wake_at = self._retry_at if self._retry else next_tick
        if not self._flush_pending() and len(self._queue) < self.max_batch_records:
            self._wake.wait(max(0.0, wake_at - now))
        elif self._retry and self._retry_at > now:
            self._wake.wait(self._retry_at - now)
        self._wake.clear()
        if self._stopping:
            return next_tick
        now = time.monotonic()
        if self._retry and self._retry_at > now:
            return next_tick  # still backing off; a flush waits for the retry
        with self._cond:
            flush_target = self._flush_requested
        forced = flush_target > self._flushed
        if not forced and now < next_tick and len(self._queue) < self.max_batch_records:
            return next_tick
        full_only = not forced and now < next_tick
        if not full_only:
            self._collect_metrics(forced)
            next_tick = now + self.flush_interval
        if self._drain(full_only) and forced:
            with self._cond:
                self._flushed = max(self._flushed, flush_target)
                self._cond.notify_all()
        return next_tick

    def _flush_pending(self) -> bool:
        return self._flush_requested > self._flushed

    def _collect_metrics(self, force: bool) -> None:
        if self.metric_source is None:
            return
        for record in self.metric_source(force):
            if len(self._queue) >= self.max_queue:
                self.count_dropped("metrics")
            else:
                self._queue.append(("metrics", record))

    def _drain(self, full_only: bool = False) -> bool:
        """Send batches until the queue is empty (True) or a retry is scheduled (False).

        Between ticks (``full_only``) only full batches go, so a steady trickle
        of records is sent once per ``flush_interval``, not one request each.
        """
        while True:
            if full_only and not self._retry and len(self._queue) < self.max_batch_records:
                return True
            batch = self._retry.popleft() if self._retry else self._take()
            if batch is None:
                return True
            if not self._deliver(batch):
                return False

    def _take(self) -> Batch | None:
        items: list[tuple[str, bytes]] = []
        size = 0
        queue = self._queue
        while queue and len(items) < self.max_batch_records and size < self.max_batch_bytes:
            kind, record = queue.popleft()
            data = self._prepare(kind, record)
            if data is not None:
                items.append((kind, data))
                size += len(data)
        with self._drop_lock:
            dropped, self._dropped = self._dropped, {}
        if not items and not dropped:
            return None
        return Batch(items, dropped)

    def _prepare(self, kind: str, record: dict) -> bytes | None:
        try:
            record = self.scrubber.scrub_record(record)
            if self.before_send is not None and kind != "metrics":
                edited = self.before_send(record, kind)
                if not isinstance(edited, dict):
                    return None  # None (or anything else) from the hook drops the record
                record = edited
        except Exception:
            log.debug("lookout_sdk: before_send failed; record dropped", exc_info=True)
            return None
        data = _batch.encode_record(record)
        if data is None:
            self.count_dropped(kind)
        return data

    def _deliver(self, batch: Batch) -> bool:
        """Send one batch. False when it must be retried later (already rescheduled)."""
        body = _batch.compress(_batch.build_body(batch, self.resource))
        request = Request(self.url, {**self.headers, BATCH_ID_HEADER: batch.batch_id}, body)
        batch.attempts += 1
        try:
            response = self.transport.send(request)
        except (TransportError, OSError) as exc:
            return self._schedule_retry(batch, None, f"cannot reach the collector ({exc})")
        except Exception as exc:  # noqa: BLE001 - a custom transport's bug is a failed send
            return self._schedule_retry(batch, None, f"transport error ({exc!r})")
        status = response.status
        if 200 <= status < 300:
            self._log_rejections(response.body)
            return True
        if _batch.is_retryable(status):
            retry_after = _batch.parse_retry_after(response.headers.get("retry-after"))
            return self._schedule_retry(batch, retry_after, f"collector answered {status}")
        if status == 413 and len(batch.items) > 1:
            first, second = batch.split()
            self._retry.appendleft(second)
            self._retry.appendleft(first)
            return True
        self._warn_refused(status, len(batch.items), response.body)
        return True

    def _warn_refused(self, status: int, records: int, body: bytes) -> None:
        """One warning per status per minute: a wrong key must not flood the app's logs."""
        now = time.monotonic()
        if now - self._refusals.get(status, -3600.0) < 60.0:
            return
        self._refusals[status] = now
        log.warning("lookout_sdk: collector refused a batch of %d records with %d: %s "
                    "(further refusals with this status are not logged for a minute)",
                    records, status, body[:300].decode("utf-8", "replace"))

    def _schedule_retry(self, batch: Batch, retry_after: float | None, why: str) -> bool:
        delay = retry_after if retry_after is not None else _batch.backoff_delay(
            batch.attempts, cap=self.retry_max_delay)
        log.debug("lookout_sdk: %s; retrying in %.2fs", why, delay)
        self._retry.appendleft(batch)
        self._retry_at = time.monotonic() + delay
        return False

    def _log_rejections(self, body: bytes) -> None:
        if b'"rejected":[]' in body or not log.isEnabledFor(logging.DEBUG):
            return
        log.debug("lookout_sdk: collector rejected records: %s",
                  body[:500].decode("utf-8", "replace"))
