"""Alert and rule pages: ``/alerts`` (list, detail with history, Acknowledge / Resolve /
Silence) and ``/rules`` (each rule with its current state and value).

The buttons call the same ``rules.actions`` as Slack's buttons and the API, so
the Slack message is updated too; the actor recorded is the logged-in user's
email. Forms carry the session's CSRF token.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from lookout.http import services
from rules import store
from rules.runtime import Alerting
from web.auth import checked_form, current_session
from web.ui import page

FILTERS = ("firing", "acknowledged", "silenced", "resolved", "all")
ACTIONS = ("ack", "resolve", "silence")
LIST_LIMIT = 200


def _alerting(request: Request) -> Alerting | None:
    return getattr(services(request), "alerting", None)


def _silenced(labels: dict[str, str], silences: list[dict[str, str]]) -> bool:
    return any(m and all(labels.get(k) == v for k, v in m.items()) for m in silences)


def _status(alert: dict[str, Any], silenced: bool) -> str:
    if alert["state"] == "resolved":
        return "resolved"
    if silenced:
        return "silenced"
    return "acknowledged" if alert.get("acknowledged_by") else "firing"


async def _decorated(alerting: Alerting, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async with alerting.store.engine.connect() as conn:
        silences = await store.active_silences(conn, alerting.clock())
    for alert in alerts:
        alert["status"] = _status(alert, _silenced(alert["labels"], silences))
    return alerts


async def open_alerts(request: Request, limit: int = 10) -> list[dict[str, Any]]:
    """Alerts not yet resolved (firing, acknowledged or silenced), newest first: the overview's top."""
    alerting = _alerting(request)
    if alerting is None:
        return []
    return await _decorated(alerting, await store.list_alerts(alerting.store.engine, "firing",
                                                              limit))


@get("/alerts")
async def alerts(request: Request) -> Template:
    alerting = _alerting(request)
    show = request.query_params.get("show") or "firing"
    if show not in FILTERS:
        return page(request, "error.html", 400, title="Unknown filter",
                    message=f"show: use one of {', '.join(FILTERS)}")
    if alerting is None:
        return page(request, "alerts.html", items=[], show=show, filters=FILTERS,
                    disabled=True)
    state = None if show in ("all", "silenced", "acknowledged") else show
    items = await _decorated(alerting, await store.list_alerts(
        alerting.store.engine, "firing" if show in ("silenced", "acknowledged") else state,
        LIST_LIMIT))
    if show != "all":
        items = [a for a in items if a["status"] == show]
    return page(request, "alerts.html", items=items, show=show, filters=FILTERS,
                disabled=False)


@get("/alerts/{alert_id:int}")
async def alert_detail(request: Request, alert_id: FromPath[int]) -> Template:
    alerting = _alerting(request)
    alert = None
    if alerting is not None:
        async with alerting.store.engine.connect() as conn:
            alert = await store.get_alert(conn, alert_id)
    if alert is None:
        return page(request, "error.html", 404, title="No such alert",
                    message=f"There is no alert {alert_id}.")
    (alert,) = await _decorated(alerting, [alert])
    history = await store.alert_history(alerting.store.engine, alert_id)
    rule = alerting.rule(alert["rule"])
    return page(request, "alert.html", alert=alert, history=history,
                rule=rule.describe() if rule else None,
                actions=[] if alert["state"] == "resolved" else
                [a for a in ACTIONS if not (a == "ack" and alert.get("acknowledged_by"))
                 and not (a == "silence" and alert["status"] == "silenced")],
                flash=request.query_params.get("done") or "")


@post("/alerts/{alert_id:int}/{action:str}")
async def alert_action(request: Request, alert_id: FromPath[int],
                       action: FromPath[str]) -> Response | Template:
    await checked_form(request)
    alerting = _alerting(request)
    session = await current_session(request)
    if alerting is None or action not in ACTIONS or session is None:
        return page(request, "error.html", 404, title="Not found",
                    message="Unknown alert or action (use ack, resolve or silence).")
    do = {"ack": alerting.actions.acknowledge, "resolve": alerting.actions.resolve,
          "silence": alerting.actions.silence}[action]
    outcome = await do(alert_id, session.email, alerting.clock())
    if outcome.result == "not_found":
        return page(request, "error.html", 404, title="No such alert",
                    message=f"There is no alert {alert_id}.")
    if outcome.changed:
        alerting.kick_sender()
    return Redirect(f"/alerts/{alert_id}?done={outcome.result}", status_code=303)


@get("/rules")
async def rules_page(request: Request) -> Template:
    alerting = _alerting(request)
    if alerting is None:
        return page(request, "rules.html", rules=[], source=None, disabled=True)
    async with alerting.store.engine.connect() as conn:
        tracks = await store.load_tracks(conn)
    by_rule: dict[str, list[Any]] = {}
    for track in tracks.values():
        by_rule.setdefault(track.rule, []).append(track)
    items = []
    for rule in alerting.ruleset.rules:
        active = by_rule.get(rule.name, [])
        state = "firing" if any(a.state == "firing" for a in active) else (
            "pending" if active else "ok")
        items.append({**rule.describe(), "state": state, "tracks": active})
    return page(request, "rules.html", rules=items, source=alerting.ruleset.source,
                disabled=False)


routes = [alerts, alert_detail, alert_action, rules_page]
