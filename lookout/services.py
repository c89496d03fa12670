"""The long-lived objects one Lookout process shares between its routes and jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.issues import TagLimits
from collector.normalize import Limits
from collector.otlp.cumulative import CumulativeState
from collector.ratelimit import RateLimiter
from collector.retention import purge_expired
from collector.sentry.services import ServiceMemory
from collector.writer import BatchWriter
from lookout import meta
from lookout.db import create_engine, now
from lookout.jobs import Jobs
from lookout.projects import KeyCache
from lookout.settings import RETENTION_KINDS, Settings
from lookout.sqlite_space import reclaim
from lookout.storage import StorageStats
from rules.runtime import Alerting

log = logging.getLogger("lookout")

RETENTION_EVERY_SECONDS = 3600
# How long a stop waits for a running background job (inside uvicorn's graceful shutdown).
JOB_STOP_WAIT_SECONDS = 10.0


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    writer: BatchWriter
    keys: KeyCache
    limits: Limits
    limiter: RateLimiter | None = None
    scheduler: AsyncIOScheduler = field(default_factory=AsyncIOScheduler)
    jobs: Jobs = field(init=False)
    secret_key: str = ""
    alerting: Alerting | None = None
    # Last points of cumulative OTLP metric series (collector.otlp.cumulative).
    otlp_series: CumulativeState = field(default_factory=CumulativeState)
    # Rows and bytes per table, day and project (the storage page, lookout_storage_* gauges).
    storage: StorageStats | None = None
    # The service Sentry events name, for the logs and metrics of the same app.
    sentry_services: ServiceMemory = field(default_factory=ServiceMemory)

    def __post_init__(self) -> None:
        self.jobs = Jobs(self.scheduler)

    @classmethod
    def build(cls, settings: Settings, engine: AsyncEngine | None = None) -> Services:
        engine = engine or create_engine(settings.database_url)
        writer = BatchWriter(engine, queue_records=settings.write_queue_records,
                             batch_records=settings.write_batch_records,
                             timeout=settings.write_timeout,
                             concurrency=1 if settings.is_sqlite else 2,
                             tag_limits=TagLimits(settings.max_issue_tag_keys,
                                                  settings.max_issue_tag_values))
        limits = Limits(max_attributes=settings.max_attributes,
                        max_string_length=settings.max_string_length,
                        max_future_seconds=settings.max_future_seconds,
                        max_items=settings.max_collection_items,
                        max_json_bytes=settings.max_json_bytes,
                        max_exception_bytes=settings.max_exception_bytes,
                        max_frame_vars_bytes=settings.max_frame_vars_bytes,
                        max_label_bytes=settings.max_label_bytes,
                        max_route_bytes=settings.max_route_bytes,
                        # An event older than retention would be deleted at the next run.
                        max_past_seconds=min(settings.max_past_seconds,
                                             settings.retention_days * 86400.0),
                        clock_drift_seconds=settings.clock_drift_seconds)
        limiter = RateLimiter(engine, settings.rate_limit_per_minute)
        return cls(settings, engine, writer, KeyCache(engine), limits, limiter,
                   alerting=Alerting(settings, engine),
                   otlp_series=CumulativeState(settings.otlp_max_series),
                   storage=StorageStats(engine, settings.storage_days_per_refresh))

    async def start(self, *, background_jobs: bool = True) -> None:
        self.secret_key = self.settings.secret_key or await meta.secret_key(self.engine)
        self.writer.start()
        if self.alerting is not None:
            await self.alerting.start(self.jobs, background_jobs=background_jobs)
        if background_jobs:
            self.jobs.every("retention", RETENTION_EVERY_SECONDS, self.run_retention)
            # First figures soon after start, then every LOOKOUT_STORAGE_INTERVAL.
            self.jobs.every("storage", self.settings.storage_interval, self.refresh_storage,
                            next_run_time=datetime.now(UTC) + timedelta(seconds=5))
            self.scheduler.start()

    async def stop(self) -> None:
        if self.alerting is not None:
            await self.alerting.stop()
        # Before the engine goes: a storage refresh or retention run finishes, or is cut off.
        await self.jobs.stop(JOB_STOP_WAIT_SECONDS)
        await self.writer.stop()
        await self.engine.dispose()

    async def run_retention(self, at: float | None = None) -> dict[str, int]:
        """One retention run as of ``at`` (default: now; tests pass their own clock)."""
        days = {kind: self.settings.retention_for(kind) for kind in RETENTION_KINDS}
        try:
            deleted = await purge_expired(self.engine, days, now() if at is None else at,
                                          self.settings.retention_batch_rows)
        except Exception as exc:  # noqa: BLE001 - a failed run is retried next interval
            log.warning("retention failed", extra={"error": str(exc)[:200]})
            return {}
        if any(deleted.values()):
            log.info("retention removed old rows", extra={"deleted": deleted})
            if self.storage is not None:
                self.storage.mark_stale()
            try:
                freed = await reclaim(self.engine)
            except Exception as exc:  # noqa: BLE001 - space comes back at the next run
                log.warning("reclaiming free space failed", extra={"error": str(exc)[:200]})
            else:
                if freed:
                    log.info("returned free pages to the file system", extra={"pages": freed})
        return deleted



    async def refresh_storage(self) -> None:
        """The storage job: a failed refresh keeps the previous figures until the next one."""
        if self.storage is None:
            return
        try:
            await self.storage.refresh()
        except Exception as exc:  # noqa: BLE001 - retried next interval
            log.warning("storage figures failed", extra={"error": str(exc)[:200]})
