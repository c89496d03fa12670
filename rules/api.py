"""Read API for rules, alerts and silences, plus the same actions Slack's buttons offer.

``GET /api/v1/rules``, ``GET /api/v1/alerts?state=``, ``GET /api/v1/alerts/{id}``,
``POST /api/v1/alerts/{id}/ack|resolve``, ``GET|POST /api/v1/silences``,
``POST /api/v1/silences/{id}/expire``.
Guarded like the rest of the read API; the actor recorded for API actions is
``api`` (or the ``by`` field of a JSON body, e.g. ``{"by": "alice"}``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from collector.queries import QueryError
from lookout.http import error_response, json_response, services
from lookout.ids import MAX_ROW_ID
from rules import store
from rules.actions import Outcome
from rules.runtime import Alerting
from rules.silences import SilenceError, check_silence
from web.auth import require_reader
from web.params import parse_limit

ALERT_STATES = ("firing", "resolved", "acknowledged")


def _alerting(request: Request) -> Alerting:
    alerting = services(request).alerting
    assert alerting is not None
    return alerting


@get("/rules")
async def list_rules(request: Request) -> Response:
    alerting = _alerting(request)
    async with alerting.store.engine.connect() as conn:
        tracks = await store.load_tracks(conn)
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for tr in tracks.values():
        by_rule.setdefault(tr.rule, []).append({
            "fingerprint": tr.fingerprint, "labels": tr.labels, "state": tr.state,
            "severity": tr.severity, "value": tr.value, "active_since": tr.active_since,
            "alert_id": tr.alert_id, "acknowledged": tr.acknowledged})
    items = []
    for rule in alerting.ruleset.rules:
        active = by_rule.get(rule.name, [])
        state = "firing" if any(a["state"] == "firing" for a in active) else (
            "pending" if active else "ok")
        items.append({**rule.describe(), "max_groups": alerting.evaluator.max_groups_of(rule),
                      "state": state, "alerts": active})
    return json_response({"source": alerting.ruleset.source, "rules": items})


@get("/alerts")
async def list_alerts(request: Request) -> Response:
    state = request.query_params.get("state") or None
    if state is not None and state not in ALERT_STATES:
        return error_response(400, f"state: must be one of {', '.join(ALERT_STATES)}")
    try:
        limit = parse_limit(request.query_params.get("limit"))
    except QueryError as exc:
        return error_response(400, str(exc))
    items = await store.list_alerts(_alerting(request).store.engine, state, limit)
    return json_response({"items": items})


@get("/alerts/{alert_id:int}")
async def alert_detail(request: Request, alert_id: FromPath[int]) -> Response:
    if not 0 < alert_id <= MAX_ROW_ID:  # the drivers overflow past 64 bits
        return error_response(404, f"no alert {alert_id}")
    engine = _alerting(request).store.engine
    async with engine.connect() as conn:
        alert = await store.get_alert(conn, alert_id)
    if alert is None:
        return error_response(404, f"no alert {alert_id}")
    return json_response({**alert, "history": await store.alert_history(engine, alert_id)})


async def _actor(request: Request) -> str | Response:
    body = await request.body()
    if not body.strip():
        return "api"
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return error_response(400, "body must be JSON (or empty), nested at most ~1000 levels")
    by = data.get("by") if isinstance(data, dict) else None
    if by is not None and (not isinstance(by, str) or not 0 < len(by) <= 100 or "\x00" in by):
        return error_response(400, "by: must be a name of 1-100 characters")
    return by or "api"


def _outcome(outcome: Outcome, alert_id: int) -> Response:
    if outcome.result == "not_found":
        return error_response(404, f"no alert {alert_id}")
    return json_response({"result": outcome.result, "message": outcome.message(),
                          "alert": outcome.alert})


@post("/alerts/{alert_id:int}/ack", status_code=200)
async def ack_alert(request: Request, alert_id: FromPath[int]) -> Response:
    actor = await _actor(request)
    if isinstance(actor, Response):
        return actor
    if not 0 < alert_id <= MAX_ROW_ID:  # the drivers overflow past 64 bits
        return error_response(404, f"no alert {alert_id}")
    alerting = _alerting(request)
    outcome = await alerting.actions.acknowledge(alert_id, actor, alerting.clock())
    if outcome.changed:
        alerting.kick_sender()
    return _outcome(outcome, alert_id)


@post("/alerts/{alert_id:int}/resolve", status_code=200)
async def resolve_alert(request: Request, alert_id: FromPath[int]) -> Response:
    actor = await _actor(request)
    if isinstance(actor, Response):
        return actor
    if not 0 < alert_id <= MAX_ROW_ID:  # the drivers overflow past 64 bits
        return error_response(404, f"no alert {alert_id}")
    alerting = _alerting(request)
    outcome = await alerting.actions.resolve(alert_id, actor, alerting.clock())
    if outcome.changed:
        alerting.kick_sender()
    return _outcome(outcome, alert_id)


@get("/silences")
async def list_silences(request: Request) -> Response:
    alerting = _alerting(request)
    expired = request.query_params.get("expired") in ("1", "true", "yes")
    return json_response({"items": await store.list_silences(alerting.store.engine,
                                                             alerting.clock(), expired)})


class SilenceIn(msgspec.Struct, forbid_unknown_fields=True):
    matchers: dict[str, str]
    starts_at: str | float | None = None
    ends_at: str | float | None = None
    duration: str | None = None
    comment: str = ""
    by: str = "api"


@post("/silences", status_code=201)
async def create_silence(request: Request) -> Response:
    alerting = _alerting(request)
    now = alerting.clock()
    try:
        data = msgspec.json.decode(await request.body(), type=SilenceIn)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return error_response(400, f"invalid silence: {exc}")
    except RecursionError:
        return error_response(400, "invalid silence: nested too deeply")
    try:
        spec = check_silence(data.matchers, starts_at=_text(data.starts_at),
                             ends_at=_text(data.ends_at), duration=data.duration,
                             comment=data.comment, created_by=data.by, now=now)
    except SilenceError as exc:
        return error_response(400, str(exc))
    silence_id = await alerting.actions.add_silence(spec.matchers, spec.starts_at, spec.ends_at,
                                                    spec.created_by, spec.comment, now)
    return json_response({"id": silence_id, "matchers": spec.matchers,
                          "starts_at": spec.starts_at, "ends_at": spec.ends_at,
                          "created_by": spec.created_by, "comment": spec.comment}, 201)


@post("/silences/{silence_id:int}/expire", status_code=200)
async def expire_silence(request: Request, silence_id: FromPath[int]) -> Response:
    """End a silence now (Alertmanager's "expire"); expiring an ended one changes nothing."""
    if not 0 < silence_id <= MAX_ROW_ID:  # the drivers overflow past 64 bits
        return error_response(404, f"no silence {silence_id}")
    alerting = _alerting(request)
    result, silence = await alerting.actions.expire_silence(silence_id, alerting.clock())
    if silence is None:
        return error_response(404, f"no silence {silence_id}")
    return json_response({"result": result, "silence": silence})


def _text(value: str | float | None) -> str | None:
    return None if value is None else str(value)


router = Router(path="/api/v1", guards=[require_reader], route_handlers=[
    list_rules, list_alerts, alert_detail, ack_alert, resolve_alert, list_silences,
    create_silence, expire_silence])
