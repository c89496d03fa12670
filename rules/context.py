"""The evidence shown under an alert's number in its Slack message.

"checkout error rate 7.2% > 5%" tells on-call *that* something is wrong; the
lines here say *what*: for ``new_issue`` the exception, its innermost in-app
frame and the release; for ``error_rate`` the routes failing most in the
window and the issue with the most events behind them; for ``log_count`` a
few of the lines counted; for ``metric`` the series' recent per-minute
values. Every line is Slack mrkdwn with all ingested text escaped and cut.

Computed when the message is posted or updated (collector reads of a handful
of rows); a failure or a slow database leaves the context out, never the alert.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncEngine

from collector import evidence_queries as ev
from collector.issue_queries import latest_event
from rules.config import Rule
from rules.evaluate import metric_value
from rules.notify.slack_message import escape, format_value

log = logging.getLogger("lookout.rules")

TIMEOUT = 3.0  # seconds for all reads of one message
MAX_TEXT = 150  # characters of an ingested text (message, title, exception value) per line
RECENT_MINUTES = 5


def _cut(text: object, most: int = MAX_TEXT) -> str:
    value = " ".join(str(text).split())
    return escape(value if len(value) <= most else value[: most - 1] + "…")


async def alert_context(engine: AsyncEngine, alert: dict[str, Any], rule: Rule | None,
                        now: float, base_url: str) -> list[str]:
    """The context lines of ``alert`` (empty when there is nothing to add or reading fails)."""
    if rule is None or alert.get("state") == "resolved":
        return []
    try:
        return await asyncio.wait_for(_lines(engine, alert, rule, now, base_url.rstrip("/")),
                                      TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - context is optional, the alert is not
        log.warning("alert context left out", extra={"alert_id": alert.get("id"),
                                                      "error": f"{type(exc).__name__}: {exc}"})
        return []


async def _lines(engine: AsyncEngine, alert: dict[str, Any], rule: Rule, now: float,
                 base: str) -> list[str]:
    labels = alert["labels"]
    service, environment = labels.get("service"), labels.get("environment")
    since = now - rule.window
    if rule.kind == "new_issue" and labels.get("issue", "").isdigit():
        return _issue_lines(await latest_event(engine, int(labels["issue"])))
    if rule.kind == "error_rate":
        routes = await ev.failing_routes(engine, since, now, service=service,
                                         environment=environment)
        lines = [f"`{_cut(r.route or '(no route)', 80)}` {r.errors:,} errors of {r.count:,} "
                 f"({r.errors / r.count * 100 if r.count else 0:.1f}%)" for r in routes]
        if lines:
            lines.insert(0, "*Failing routes*")
        top = await ev.top_issues(engine, since, now, service=service, environment=environment)
        lines += [f"*Top issue* <{base}/issues/{i['id']}|{_cut(i['title'], 100)}> "
                  f"({i['count']:,} event{'' if i['count'] == 1 else 's'})" for i in top]
        return lines
    if rule.kind == "log_count" and rule.log_filter is not None:
        f = rule.log_filter
        rows = await ev.sample_logs(engine, since, now, service=service or f.service,
                                    environment=environment or f.environment,
                                    min_level=f.min_level, text=f.text)
        lines = [f"`{r['level']}` {_cut(r['message'])}"
                 + (f" · <{base}/requests/{quote(r['request_id'], safe='')}|request>"
                    if r["request_id"] else "") for r in rows]
        return ["*Recent lines*", *lines] if lines else []
    if rule.kind == "metric" and rule.metric and rule.aggregate:
        minutes = await ev.metric_minutes(engine, rule.metric, now - 60 * RECENT_MINUTES, now,
                                          service=service, environment=environment)
        values = [metric_value(rule.aggregate, [m]) for _, m in minutes]
        shown = [format_value("metric", v) for v in values if v is not None]
        if not shown:
            return []
        return [f"*{escape(rule.aggregate)}({_cut(rule.metric, 80)}) per minute*, oldest first: "
                + " → ".join(shown)]
    return []


def _issue_lines(event: dict[str, Any] | None) -> list[str]:
    if event is None:
        return []
    chain = event.get("exception") or []
    lines = []
    if isinstance(chain, list) and chain and isinstance(chain[-1], dict):
        last = chain[-1]
        lines.append(f"*{_cut(last.get('type') or 'Error', 80)}*: {_cut(last.get('value') or '')}")
        frames = [f for f in last.get("frames") or [] if isinstance(f, dict)]
        inner = next((f for f in reversed(frames) if f.get("in_app")), None)
        if inner is not None:
            where = inner.get("filename") or inner.get("module") or "?"
            line = f":{inner['lineno']}" if inner.get("lineno") is not None else ""
            lines.append(f"in `{_cut(where, 100)}{line}` {_cut(inner.get('function') or '', 60)}")
    if event.get("release"):
        lines.append(f"*Release* {_cut(event['release'], 80)}")
    return lines
