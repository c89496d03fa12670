"""The evaluation tick: evaluate every rule, advance every alert, write outbox rows.

One tick = claim the tick slot (only one instance per slot, across all
instances on one database), evaluate every rule from rollups (reads, outside
any write lock), then apply all transitions and write their outbox rows in a
single serialised transaction. New alert groups are capped per rule (see
:mod:`rules.groups`), so ingested data cannot open alerts without bound. A
rule that fails to evaluate keeps its state unchanged and does not stop the
others. Because everything the state machine needs lives in
``rule_state``/``alerts``, a restart continues ``for`` progress and never
re-pages what was already notified.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from lookout import metrics
from rules import store
from rules.config import Rule
from rules.evaluate import TickData, evaluate
from rules.groups import OVERFLOW_KIND, cap_groups, is_overflow
from rules.identity import alert_labels, fingerprint, matches
from rules.state import Observation, Step, Track, Transition, step

log = logging.getLogger("lookout.rules")

Clock = Callable[[], float]


class RuleSet:
    """The currently loaded rules; replaced as a whole on reload."""

    def __init__(self, rules: list[Rule] | None = None, source: str | None = None) -> None:
        self.rules: list[Rule] = list(rules or [])
        self.source = source

    def by_name(self) -> dict[str, Rule]:
        return {r.name: r for r in self.rules}


@dataclass
class TickResult:
    evaluated: int = 0
    failed: list[str] = field(default_factory=list)
    notifications: int = 0
    seconds: float = 0.0


class Evaluator:
    def __init__(self, alert_store: store.AlertStore, ruleset: RuleSet, *, interval: float,
                 default_channel: str | None, notify: bool, clock: Clock = time.time,
                 owner: str | None = None, max_groups: int = 50, max_new_groups: int = 10) -> None:
        self.store = alert_store
        self.ruleset = ruleset
        self.interval = interval
        self.default_channel = default_channel
        self.notify = notify
        self.clock = clock
        self.owner = owner or uuid.uuid4().hex[:16]
        self.max_groups = max_groups
        self.max_new_groups = max_new_groups

    def max_groups_of(self, rule: Rule) -> int:
        """The rule's own ``max_groups``, else the LOOKOUT_ALERT_MAX_GROUPS default."""
        return rule.max_groups if rule.max_groups is not None else self.max_groups

    @property
    def max_step(self) -> float:
        """The most one evaluation credits to ``for`` & co: two intervals (at least a
        minute), so a late tick counts in full but a clock jump or downtime does not."""
        return max(2 * self.interval, 60.0)

    async def tick(self) -> TickResult | None:
        """Run one evaluation if this instance wins the current slot; None if not."""
        now = self.clock()
        rules = self.ruleset.rules
        if not rules:
            return None
        observed_since = await self.store.claim_tick(
            (now // self.interval) * self.interval, now, self.owner, self.interval,
            self.max_step)
        if observed_since is None:
            return None
        started = time.perf_counter()
        result = TickResult()
        data = TickData(self.store.engine, now, observed_since)
        observed: dict[str, list[Observation]] = {}
        for rule in rules:
            rule_started = time.perf_counter()
            try:
                observed[rule.name] = await evaluate(rule, data)
            except Exception as exc:  # noqa: BLE001 - one bad rule must not stop the others
                result.failed.append(rule.name)
                metrics.RULE_FAILURES.labels(rule.name).inc()
                error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("rule evaluation failed", extra={"rule": rule.name, "error": error})
            finally:
                metrics.RULE_SECONDS.observe(time.perf_counter() - rule_started)
        result.evaluated = len(observed)
        async with self.store.transaction() as conn:
            tracks = await store.load_tracks(conn)
            silences = await store.active_silences(conn, now)
            by_rule: dict[str, list[Track]] = {}
            for track in tracks.values():
                by_rule.setdefault(track.rule, []).append(track)
            for rule in rules:
                if rule.name in observed:
                    result.notifications += await self._apply_rule(
                        conn, rule, observed[rule.name], by_rule.get(rule.name, []), silences,
                        now)
            known = {r.name for r in rules}
            for name, orphans in by_rule.items():
                if name not in known:
                    for track in orphans:
                        result.notifications += await self._retire(conn, track, now)
        result.seconds = time.perf_counter() - started
        metrics.TICK_SECONDS.observe(result.seconds)
        metrics.TICKS.inc()
        return result

    async def _apply_rule(self, conn: AsyncConnection, rule: Rule, observations: list[Observation],
                          tracks: list[Track], silences: list[dict[str, str]], now: float) -> int:
        obs_by_fp = {fingerprint(rule.name, o.labels): o for o in observations}
        current = {tr.fingerprint: tr for tr in tracks}
        if rule.kind == "new_issue" and obs_by_fp:
            # An issue stays "new" for the whole window: announce it once, even
            # if its alert was resolved by hand meanwhile.
            done = await store.fingerprints_with_alerts(conn, list(obs_by_fp))
            obs_by_fp = {fp: o for fp, o in obs_by_fp.items() if fp not in done or fp in current}
        obs_by_fp = cap_groups(rule, obs_by_fp, set(current), max_groups=self.max_groups_of(rule),
                               max_new=self.max_new_groups)
        sent = 0
        for fp in obs_by_fp.keys() | current.keys():
            track, obs = current.get(fp), obs_by_fp.get(fp)
            if obs is None and track is not None and rule.kind in ("absence", "new_issue") \
                    and track.state == "firing" and not is_overflow(track.labels):
                # A service silent for longer than the look-back drops out of the
                # data but is still absent; a new issue stays announced until a
                # person resolves its alert. Either way the alert keeps firing.
                obs = Observation(track.labels, track.value, track.severity)
            labels = obs.labels if obs is not None else track.labels  # type: ignore[union-attr]
            silenced = any(matches(s, alert_labels(rule, labels)) for s in silences)
            outcome = step(rule, fp, track, obs, now, silenced, self.max_step)
            info = obs.info if obs is not None else {}
            sent += await self._persist(conn, rule, track, outcome, now, info)
        return sent

    async def _persist(self, conn: AsyncConnection, rule: Rule, before: Track | None,
                       outcome: Step, now: float, info: dict[str, str]) -> int:
        after = outcome.track
        if before is None and after is None and not outcome.transitions:
            return 0
        alert_id = before.alert_id if before is not None else None
        subject = after or before or outcome.resolved
        assert subject is not None
        overflow = is_overflow(subject.labels)
        if after is not None and after.state == "firing" and after.alert_id is None:
            alert_id = await store.create_alert(
                conn, after, kind=OVERFLOW_KIND if overflow else rule.kind,
                labels={**info, **alert_labels(rule, after.labels)},
                threshold=None if overflow else rule.thresholds.limit(after.severity or ""),
                channel=rule.channel or self.default_channel)
            after = _with_alert(after, alert_id)
            await store.attach_history(conn, after.fingerprint, alert_id)
        fp = subject.fingerprint
        for tr in outcome.transitions:
            await store.add_history(conn, fp, rule.name, alert_id, tr)
        if after is None:
            if before is not None:
                await store.delete_track(conn, fp)
        elif before is None or after != before:
            await store.save_track(conn, after, now, new=before is None)
        if alert_id is not None:
            final = after or outcome.resolved
            assert final is not None
            values = dict(severity=final.severity, value=final.value,
                          threshold=None if overflow else rule.thresholds.limit(
                              final.severity or ""),
                          notified_severity=final.notified_severity,
                          last_notified_at=final.last_notified_at,
                          escalated_at=final.escalated_at)
            if after is None:
                values.update(state="resolved", resolved_at=now, resolved_by="lookout")
            elif before is not None and before.acknowledged and not after.acknowledged:
                values.update(acknowledged_by=None, acknowledged_at=None)  # ack_timeout
            await store.update_alert(conn, alert_id, **values)
            if self.notify:
                for event in outcome.notify:
                    await store.enqueue(conn, alert_id, event, now, value=final.value,
                                        severity=final.severity)
                    metrics.NOTIFICATIONS_QUEUED.labels(event).inc()
                return len(outcome.notify)
        return 0

    async def _retire(self, conn: AsyncConnection, track: Track, now: float) -> int:
        """Close an alert whose rule was removed from the rules file."""
        await store.delete_track(conn, track.fingerprint)
        if track.alert_id is None:
            return 0
        await store.add_history(conn, track.fingerprint, track.rule, track.alert_id,
                                Transition(track.state, "resolved", track.severity, track.value,
                                           now, "rule removed"))
        await store.update_alert(conn, track.alert_id, state="resolved", resolved_at=now,
                                 resolved_by="lookout (rule removed)")
        if self.notify and track.notified_severity is not None:
            await store.enqueue(conn, track.alert_id, "resolved", now)
            return 1
        return 0


def _with_alert(track: Track, alert_id: int) -> Track:
    return replace(track, alert_id=alert_id)
