"""What a person can do to an alert: acknowledge, resolve, silence; shared by Slack and the API.

Each action is idempotent and says what happened (``Outcome.result``):
acknowledging twice or acting on a resolved alert changes nothing and
returns ``already_acknowledged`` / ``already_resolved``. Changes that the
alert's Slack message should show are queued in the outbox in the same
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete

from rules import store
from rules import tables as t
from rules.state import Transition

SILENCE_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Outcome:
    # acknowledged | resolved | silenced | assigned | already_acknowledged | already_assigned
    # | already_resolved | not_found
    result: str
    alert: dict[str, Any] | None = None
    silence_id: int | None = None

    @property
    def changed(self) -> bool:
        return self.result in ("acknowledged", "resolved", "silenced", "assigned")

    def message(self) -> str:
        """A sentence for the person who clicked."""
        alert = self.alert or {}
        return {
            "acknowledged": f"Acknowledged alert {alert.get('id')}.",
            "resolved": f"Resolved alert {alert.get('id')}.",
            "silenced": f"Silenced alert {alert.get('id')}.",
            "assigned": f"Assigned alert {alert.get('id')} to {alert.get('assigned_to')}.",
            "already_assigned": f"Alert {alert.get('id')} is already assigned to "
                                f"{alert.get('assigned_to')}; nothing changed.",
            "already_acknowledged": f"Alert {alert.get('id')} was already acknowledged by "
                                    f"{alert.get('acknowledged_by')}; nothing changed.",
            "already_resolved": f"Alert {alert.get('id')} is already resolved; nothing changed.",
            "not_found": "That alert no longer exists.",
        }[self.result]


async def _open_alert(conn: Any, alert_id: int) -> tuple[dict[str, Any] | None, Outcome | None]:
    """The alert, or the outcome that refuses the action: gone, or already resolved."""
    alert = await store.get_alert(conn, alert_id)
    if alert is None:
        return None, Outcome("not_found")
    if alert["state"] == "resolved":
        return alert, Outcome("already_resolved", alert)
    return alert, None


async def _record(conn: Any, alert: dict[str, Any], to_state: str, now: float, note: str,
                  actor: str) -> None:
    """One line of the alert's history: what a person did, and when."""
    await store.add_history(conn, alert["fingerprint"], alert["rule"], alert["id"],
                            Transition("firing", to_state, alert["severity"], alert["value"],
                                       now, note), actor)


class Actions:
    def __init__(self, alert_store: store.AlertStore, *, notify: bool) -> None:
        self.store = alert_store
        self.notify = notify

    async def _enqueue(self, conn: Any, alert: dict[str, Any], event: str, now: float,
                       actor: str) -> None:
        if self.notify and alert.get("notified_severity") is not None:
            await store.enqueue(conn, alert["id"], event, now, actor)

    async def acknowledge(self, alert_id: int, actor: str, now: float) -> Outcome:
        async with self.store.transaction() as conn:
            alert, refused = await _open_alert(conn, alert_id)
            if refused is not None:
                return refused
            assert alert is not None
            if alert["acknowledged_by"]:
                return Outcome("already_acknowledged", alert)
            await store.update_alert(conn, alert_id, acknowledged_by=actor, acknowledged_at=now)
            await _record(conn, alert, "firing", now, "acknowledged", actor)
            await self._enqueue(conn, alert, "acknowledged", now, actor)
            alert.update(acknowledged_by=actor, acknowledged_at=now)
            return Outcome("acknowledged", alert)

    async def resolve(self, alert_id: int, actor: str, now: float) -> Outcome:
        """Close the alert. If its condition still holds, the rule starts a new alert
        (pending, then firing after ``for``), as Alertmanager users expect."""
        async with self.store.transaction() as conn:
            alert, refused = await _open_alert(conn, alert_id)
            if refused is not None:
                return refused
            assert alert is not None
            await store.update_alert(conn, alert_id, state="resolved", resolved_at=now,
                                     resolved_by=actor)
            await conn.execute(delete(t.rule_state).where(t.rule_state.c.alert_id == alert_id))
            await _record(conn, alert, "resolved", now, "resolved by hand", actor)
            await self._enqueue(conn, alert, "resolved", now, actor)
            alert.update(state="resolved", resolved_at=now, resolved_by=actor)
            return Outcome("resolved", alert)

    async def silence(self, alert_id: int, actor: str, now: float,
                      seconds: float = SILENCE_SECONDS, event: str = "silenced") -> Outcome:
        """Silence the alert's labels (rule + group labels) for ``seconds``; ``event``
        names the thread reply (``snoozed:<until>`` says until when)."""
        async with self.store.transaction() as conn:
            alert, refused = await _open_alert(conn, alert_id)
            if refused is not None:
                return refused
            assert alert is not None
            matchers = {k: v for k, v in alert["labels"].items()  # overflow: that alert only
                        if k in ("rule", "service", "environment", "overflow")}
            silence_id = await store.create_silence(conn, matchers, now, now + seconds, actor,
                                                    f"from alert {alert_id}", now)
            await _record(conn, alert, "firing", now, "silenced", actor)
            await self._enqueue(conn, alert, event, now, actor)
            return Outcome("silenced", alert, silence_id)

    async def assign(self, alert_id: int, actor: str, now: float, slack_id: str,
                     name: str) -> Outcome:
        """Assign the alert to a Slack user (``name`` as shown, ``slack_id`` to mention)."""
        async with self.store.transaction() as conn:
            alert, refused = await _open_alert(conn, alert_id)
            if refused is not None:
                return refused
            assert alert is not None
            if alert.get("assigned_slack_id") == slack_id:
                return Outcome("already_assigned", alert)
            await store.update_alert(conn, alert_id, assigned_to=name,
                                     assigned_slack_id=slack_id)
            await _record(conn, alert, "firing", now, f"assigned to {name}", actor)
            await self._enqueue(conn, alert, "assigned", now, actor)
            alert.update(assigned_to=name, assigned_slack_id=slack_id)
            return Outcome("assigned", alert)

    async def snooze(self, alert_id: int, actor: str, now: float, until: float) -> Outcome:
        """Silence the alert's labels until ``until`` (the Slack snooze menu)."""
        return await self.silence(alert_id, actor, now, until - now,
                                  event=f"snoozed:{int(until)}")

    async def add_silence(self, matchers: dict[str, str], starts_at: float, ends_at: float,
                          actor: str, comment: str, now: float) -> int:
        async with self.store.transaction() as conn:
            return await store.create_silence(conn, matchers, starts_at, ends_at, actor,
                                              comment, now)

    async def expire_silence(self, silence_id: int,
                             now: float) -> tuple[str, dict[str, Any] | None]:
        """End a silence now; alerts it muted notify again from the next evaluation."""
        async with self.store.transaction() as conn:
            return await store.expire_silence(conn, silence_id, now)
