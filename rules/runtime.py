"""The rule engine inside one ``lookout serve``: rules, scheduler jobs, Slack, SIGHUP reload.

Built and started by :class:`lookout.services.Services`. Everything that
matters lives in the database, so any number of instances can run this side
by side on one PostgreSQL (ticks are claimed per slot, Slack deliveries are
leased per alert).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from lookout import metrics
from lookout.jobs import Jobs
from lookout.settings import Settings
from rules.actions import Actions
from rules.config import Rule, RulesError, load_rules
from rules.engine import Evaluator, RuleSet, TickResult
from rules.notify.sender import SlackSender, make_client
from rules.store import AlertStore

log = logging.getLogger("lookout.rules")

SEND_EVERY_SECONDS = 2.0
STOP_WAIT_SECONDS = 10.0
USER_INFO_SECONDS = 2.0  # a click is answered within 3 s; the time zone must not hold it up
PRUNE_EVERY_SECONDS = 3600.0
SENT_OUTBOX_KEEP_SECONDS = 7 * 86400.0


class Alerting:
    def __init__(self, settings: Settings, engine: AsyncEngine,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.store = AlertStore(engine)
        self.ruleset = RuleSet()
        notify = bool(settings.slack_bot_token)
        self.evaluator = Evaluator(self.store, self.ruleset, interval=settings.eval_interval,
                                   default_channel=settings.slack_channel, notify=notify,
                                   clock=clock, max_groups=settings.alert_max_groups,
                                   max_new_groups=settings.alert_max_new_groups)
        self.actions = Actions(self.store, notify=notify)
        self.sender: SlackSender | None = None
        if settings.slack_bot_token:
            client = make_client(settings.slack_bot_token, settings.slack_api_url)
            self.sender = SlackSender(self.store, client, base_url=settings.base_url,
                                      rule_lookup=self.rule, clock=clock,
                                      lease_seconds=settings.slack_lease_seconds)
        self.socket: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sighup = False
        self._jobs = asyncio.Lock()  # held by a running tick, so stop() can wait for it
        self._stopping = False

    def rule(self, name: str) -> Rule | None:
        return self.ruleset.by_name().get(name)

    async def _user_info(self, user_id: str) -> dict[str, Any]:
        """A Slack user's ``users.info`` (scope ``users:read``); {} without a bot token or
        on any failure (a click goes on without it), within ``USER_INFO_SECONDS``."""
        if self.sender is None:
            return {}
        try:
            async with asyncio.timeout(USER_INFO_SECONDS):
                answer = await self.sender.client.users_info(user=user_id)
            user = answer.get("user")
        except Exception as exc:  # noqa: BLE001 - the click still applies without it
            log.info("users.info failed", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
            return {}
        return user if isinstance(user, dict) else {}

    async def user_utc_offset(self, user_id: str) -> float | None:
        """A Slack user's UTC offset in seconds, for "snooze until 09:00 tomorrow"; None
        (UTC) when Slack does not say."""
        offset = (await self._user_info(user_id)).get("tz_offset")
        return float(offset) if isinstance(offset, (int, float)) \
            and not isinstance(offset, bool) else None

    async def user_name(self, user_id: str) -> str | None:
        """``@name`` of a Slack user (an assignee, as the UI shows them); None if unknown."""
        name = (await self._user_info(user_id)).get("name")
        return f"@{name[:100]}" if isinstance(name, str) and name \
            and "\x00" not in name and name.isprintable() else None

    def load(self) -> bool:
        """(Re)load the rules file; a bad file keeps the rules already loaded."""
        path = self.settings.rules_file
        if not path:
            return False
        try:
            rules = load_rules(path)
        except RulesError as exc:
            metrics.RULE_RELOAD_FAILURES.inc()
            log.error("rules file rejected; keeping the %d rules already loaded",
                      len(self.ruleset.rules), extra={"errors": exc.errors[:50]})
            return False
        self.ruleset.rules = rules
        self.ruleset.source = path
        metrics.RULES_LOADED.set(len(rules))
        log.info("rules loaded", extra={"file": path, "rules": len(rules)})
        return True

    async def start(self, jobs: Jobs, *, background_jobs: bool) -> None:
        self.load()
        if not background_jobs:
            return
        jobs.every("rules-eval", self.settings.eval_interval, self.run_tick)
        jobs.every("rules-prune", PRUNE_EVERY_SECONDS, self.run_prune)
        if self.sender is not None:
            jobs.every("slack-send", SEND_EVERY_SECONDS, self.run_send)
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.load)
            self._sighup = True
        except (NotImplementedError, RuntimeError, ValueError):
            log.info("SIGHUP reload unavailable here")
        if self.settings.slack_app_token:
            from rules.socket_mode import start_socket_mode

            self.socket = await start_socket_mode(self)

    async def stop(self) -> None:
        self._stopping = True
        try:  # let a running tick or send finish rather than cut it off mid-transaction
            async with asyncio.timeout(STOP_WAIT_SECONDS):
                async with self._jobs:
                    pass
                if self.sender is not None:
                    async with self.sender.running:
                        pass
        except TimeoutError:
            log.warning("a rule evaluation or Slack delivery was still running at shutdown")
        if self._sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup = False
        if self.socket is not None:
            await self.socket.close()
            self.socket = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run_tick(self) -> TickResult | None:
        """One scheduled evaluation, then deliver what it queued right away."""
        if self._stopping:
            return None
        async with self._jobs:
            try:
                result = await self.evaluator.tick()
            except Exception as exc:  # noqa: BLE001 - e.g. database down: retry next interval
                metrics.TICK_FAILURES.inc()
                log.warning("evaluation tick failed",
                            extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
                return None
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                # Shutdown gave up waiting (stop() logged it): its transaction rolls back and
                # the next start evaluates again. One line, not the scheduler's traceback.
                log.info("evaluation tick cut off at shutdown")
                return None
        if result is not None and result.notifications:
            self.kick_sender()  # not inline: a slow Slack must not delay the next tick
        return result

    async def run_send(self) -> None:
        """The delivery job: new notifications, retries, and rows queued by other instances."""
        if self._stopping:
            return
        try:
            await self._send()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            log.info("Slack delivery cut off at shutdown; unsent rows stay queued")

    async def run_prune(self) -> None:
        """Hourly: drop resolved alerts older than LOOKOUT_RETENTION_DAYS, old sent outbox rows."""
        now = self.clock()
        try:
            await self.store.prune(now - self.settings.retention_days * 86400,
                                   now - SENT_OUTBOX_KEEP_SECONDS)
        except Exception as exc:  # noqa: BLE001 - retried next hour
            log.warning("pruning old alerts failed", extra={"error": str(exc)[:300]})

    async def _send(self) -> None:
        if self.sender is None:
            return
        try:
            await self.sender.run_once()
        except Exception as exc:  # noqa: BLE001 - rows stay pending and are retried
            log.warning("Slack delivery run failed",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:300]})

    def kick_sender(self) -> None:
        """Deliver queued notifications soon (after a click), without waiting for the job."""
        if self.sender is not None:
            self.keep(asyncio.create_task(self.run_send()))

    def keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
