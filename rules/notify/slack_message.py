"""Block Kit for an alert's one Slack message, and the short lines posted in its thread.

The message always shows the alert's *current* state (it is rebuilt and sent
with ``chat.update`` on every change), so the channel never shows a stale
"firing". Buttons carry the alert id in ``value``; they disappear once the
alert is resolved, and Acknowledge disappears once someone owns it.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from rules.durations import format_duration

ACK, RESOLVE, SILENCE = "lookout_ack", "lookout_resolve", "lookout_silence_1h"
# The snooze menu (a static_select); SILENCE is the button messages carried before it,
# still handled for those messages. Option values are "<alert id>:<choice>".
SNOOZE = "lookout_snooze"
ASSIGN = "lookout_assign"  # a users_select; the block's id carries the alert id
SNOOZE_CHOICES = (("1h", "Snooze 1 hour"), ("4h", "Snooze 4 hours"),
                  ("morning", "Snooze until 09:00 tomorrow"))
SEVERITY_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}


def format_value(kind: str, value: float | None) -> str:
    if value is None:
        return "no data"
    if kind == "error_rate":
        return f"{value * 100:.1f}%"
    if kind == "absence":
        return f"silent for {format_duration(value)}"
    if kind in ("log_count", "new_issue"):
        return f"{value:,.0f}"
    return f"{value:,.4g}"


def condition_text(alert: dict[str, Any], *, escape_title: bool = False) -> str:
    """``7.0% > 5.0%`` — the value against the threshold it breaches.

    ``escape_title`` escapes the one ingested part (an issue's title), for the
    ``text`` fallback, which shows the comparison as written.
    """
    kind, value, threshold = alert["kind"], alert["value"], alert.get("threshold")
    if kind == "new_issue":
        labels = alert["labels"]
        what = "Regression" if labels.get("reason") == "regressed" else "New issue"
        events = f" ({format_value(kind, value)} events)" if value and value > 1 else ""
        title = str(labels.get("title", ""))
        return f"{what}: {escape(title) if escape_title else title}{events}"
    if threshold is None or value is None or kind in ("absence", "new_issue"):
        return format_value(kind, value)  # never "no data > 5.0%"
    comparison = alert.get("comparison", "above")
    op = "<" if comparison == "below" else ">"
    return f"{format_value(kind, value)} {op} {format_value(kind, threshold)}"


def _when(ts: float) -> str:
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|{fallback}>"


def escape(text: object) -> str:
    """Slack escaping: only &, < and > are special, in mrkdwn and in the ``text`` fallback.

    Everything that can come from ingested data (service, environment, issue
    titles, names of who acted) goes through this before it reaches any Slack
    field: unescaped, ``<!channel>`` pings everyone and ``<https://x|label>``
    makes a disguised link.
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def status_line(alert: dict[str, Any]) -> str:
    if alert["state"] == "resolved":
        by = alert.get("resolved_by") or "lookout"
        who = "automatically" if by == "lookout" else f"by {escape(by)}"
        return f":white_check_mark: Resolved {who} at {_when(alert['resolved_at'])}"
    owner = f" · assigned to <@{alert['assigned_slack_id']}>" \
        if alert.get("assigned_slack_id") else ""
    if alert.get("acknowledged_by"):
        return f":eyes: Acknowledged by {escape(alert['acknowledged_by'])}{owner}"
    return f":rotating_light: Firing{owner}"


def summary_text(alert: dict[str, Any]) -> str:
    """The ``text`` fallback (notifications, screen readers); Slack parses it like mrkdwn."""
    severity = (alert.get("severity") or "alert").upper()
    state = "RESOLVED" if alert["state"] == "resolved" else severity
    service = alert["labels"].get("service")
    target = f" ({escape(service)})" if service else ""
    return (f"[{escape(state)}] {escape(alert['rule'])}{target}: "
            f"{condition_text(alert, escape_title=True)}")


def alert_blocks(alert: dict[str, Any], base_url: str, runbook: str | None = None,
                 summary: str | None = None,
                 context: list[str] | None = None) -> list[dict[str, Any]]:
    """The message; ``context``: evidence lines (rules.context), already escaped mrkdwn."""
    base = base_url.rstrip("/")
    labels = alert["labels"]
    severity = alert.get("severity") or "warning"
    resolved = alert["state"] == "resolved"
    icon = ":white_check_mark:" if resolved else SEVERITY_ICON.get(severity, ":warning:")
    head = "RESOLVED" if resolved else escape(severity.upper())
    service = labels.get("service")
    fields = [
        f"*Rule*\n{escape(alert['rule'])}",
        f"*Service*\n{escape(service) if service else 'all services'}",
        f"*Value*\n{escape(condition_text(alert))}",
        f"*Since*\n{_when(alert['fired_at'])}",
    ]
    if labels.get("environment"):
        fields.append(f"*Environment*\n{escape(labels['environment'])}")
    links = [f"<{base}/alerts/{alert['id']}|View alert>"]
    if labels.get("issue"):
        links.append(f"<{base}/issues/{quote(labels['issue'])}|View issue>")
    query = " ".join(f"{k}:{labels[k]}" for k in ("service", "environment") if labels.get(k))
    if query:
        links.append(f"<{base}/search?q={quote(query)}|Search logs>")
    if runbook:
        links.append(f"<{escape(runbook).replace('|', '%7C')}|Runbook>")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"{icon} *{head}* · *{escape(alert['rule'])}*"
                                             + (f"\n{escape(summary)}" if summary else "")}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if context:
        # A section's text holds at most 3,000 characters; the lines are cut well below.
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": "\n".join(context)[:2900]}})
    blocks.append({"type": "context",
                   "elements": [{"type": "mrkdwn", "text": status_line(alert)},
                                {"type": "mrkdwn", "text": " · ".join(links)}]})
    if not resolved:
        value = str(alert["id"])
        buttons = []
        if not alert.get("acknowledged_by"):
            buttons.append({"type": "button", "action_id": ACK, "style": "primary", "value": value,
                            "text": {"type": "plain_text", "text": "Acknowledge"}})
        buttons.append({"type": "button", "action_id": RESOLVE, "style": "danger", "value": value,
                        "text": {"type": "plain_text", "text": "Resolve"}})
        buttons.append({"type": "static_select", "action_id": SNOOZE,
                        "placeholder": {"type": "plain_text", "text": "Snooze…"},
                        "options": [{"text": {"type": "plain_text", "text": label},
                                     "value": f"{value}:{choice}"}
                                    for choice, label in SNOOZE_CHOICES]})
        assign: dict[str, Any] = {"type": "users_select", "action_id": ASSIGN,
                                  "placeholder": {"type": "plain_text", "text": "Assign to…"}}
        if alert.get("assigned_slack_id"):
            assign["initial_user"] = alert["assigned_slack_id"]
        buttons.append(assign)
        blocks.append({"type": "actions", "block_id": f"alert-{alert['id']}",
                       "elements": buttons})
    return blocks


def thread_text(event: str, alert: dict[str, Any], actor: str | None,
                mentions: list[str] | None = None, at: float | None = None) -> str | None:
    """The short reply posted in the message's thread for ``event`` (None: no reply).

    ``mentions``: the Slack mention syntax (``<@U1>``, ``<!subteam^S1>``) of whom a
    ``paged`` event pages, built by the sender from the rule's ids; ``at``: when the
    event happened (how long the alert had gone unacknowledged by then).
    """
    who = escape(actor) if actor else "someone"
    severity = escape((alert.get("severity") or "").upper())
    if event == "escalated":
        return f":red_circle: Escalated to {severity}: {escape(condition_text(alert))}"
    if event == "paged":
        since = alert.get("fired_at")
        age = f" for {format_duration(max(0.0, at - since))}" if at and since else ""
        return (f":rotating_light: {' '.join(mentions or [])} {summary_text(alert)} "
                f"— not acknowledged{age}")
    if event == "repeat":
        return f":repeat: Still firing ({severity}): {escape(condition_text(alert))}"
    if event == "unacknowledged":
        return (f":alarm_clock: Acknowledgement timed out, still firing: {summary_text(alert)}"
                " — Acknowledge again to own it")
    if event == "resolved":
        return status_line(alert)
    if event == "acknowledged":
        return f":eyes: Acknowledged by {who}"
    if event == "silenced":
        return f":mute: Silenced for 1h by {who}"
    if event == "assigned" and alert.get("assigned_slack_id"):
        return f":bust_in_silhouette: Assigned to <@{alert['assigned_slack_id']}> by {who}"
    if event.startswith("snoozed:") and event[8:].isdigit():
        until = int(event[8:])
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until))
        return (f":zzz: Snoozed until <!date^{until}^{{date_short_pretty}} {{time}}|{stamp}> "
                f"by {who}")
    return None
