"""``/silences``: list active, upcoming and expired silences, create one, expire one early.

Like Alertmanager's silences page. Validation is ``rules.silences.check_silence``,
the same as ``POST /api/v1/silences``; storing goes through ``rules.actions``.
The creator recorded is the logged-in user's email. Forms carry the session's
CSRF token. ``/silences?rule=R&labels=service%3Dx`` opens the form filled in
(the alert page links there).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from lookout.http import services
from rules import store
from rules.runtime import Alerting
from rules.silences import SilenceError, check_silence, parse_matchers, silence_status
from web.auth import checked_form, current_session
from web.ui import page

EXPIRED_SHOWN = 50
DEFAULT_DURATION = "2h"
FLASHES = {"created": "Silence created.", "expired": "Silence expired.",
           "already_expired": "That silence had already ended; nothing changed."}


def _alerting(request: Request) -> Alerting | None:
    return getattr(services(request), "alerting", None)


async def _render(request: Request, alerting: Alerting | None, form: dict[str, str],
                  code: int = 200, error: str = "") -> Template:
    if alerting is None:
        return page(request, "silences.html", code, disabled=True, current=[], expired=[],
                    form=form, rules=[], error=error, flash="")
    now = alerting.clock()
    current: list[dict[str, Any]] = []
    expired: list[dict[str, Any]] = []
    for silence in await store.list_silences(alerting.store.engine, now, include_expired=True):
        silence["status"] = silence_status(silence, now)
        (expired if silence["status"] == "expired" else current).append(silence)
    current.sort(key=lambda s: (s["starts_at"], s["id"]))
    return page(request, "silences.html", code, disabled=False, current=current,
                expired=expired[:EXPIRED_SHOWN], form=form, error=error,
                rules=[r.name for r in alerting.ruleset.rules],
                flash=FLASHES.get(request.query_params.get("done") or "", ""))


@get("/silences")
async def silences(request: Request) -> Template:
    p = request.query_params
    form = {"rule": p.get("rule") or "", "labels": p.get("labels") or "",
            "duration": p.get("duration") or DEFAULT_DURATION, "comment": ""}
    return await _render(request, _alerting(request), form)


@post("/silences")
async def create_silence(request: Request) -> Response | Template:
    posted = await checked_form(request)
    alerting = _alerting(request)
    session = await current_session(request)
    form = {name: str(posted.get(name) or "").strip()
            for name in ("rule", "labels", "duration", "comment")}
    if alerting is None or session is None:
        return await _render(request, alerting, form, 409, "The rule engine is not running.")
    try:
        matchers = parse_matchers(form["labels"])
        if form["rule"]:
            matchers["rule"] = form["rule"]
        if not matchers:
            raise SilenceError("Choose a rule or give at least one label=value to match.")
        now = alerting.clock()
        spec = check_silence(matchers, starts_at=None, ends_at=None,
                             duration=form["duration"] or DEFAULT_DURATION,
                             comment=form["comment"], created_by=session.email, now=now)
    except SilenceError as exc:
        return await _render(request, alerting, form, 400, str(exc))
    await alerting.actions.add_silence(spec.matchers, spec.starts_at, spec.ends_at,
                                       spec.created_by, spec.comment, now)
    return Redirect("/silences?done=created", status_code=303)


@post("/silences/{silence_id:int}/expire")
async def expire_silence(request: Request, silence_id: FromPath[int]) -> Response | Template:
    await checked_form(request)
    alerting = _alerting(request)
    result, silence = ("not_found", None) if alerting is None else (
        await alerting.actions.expire_silence(silence_id, alerting.clock()))
    if silence is None:
        return page(request, "error.html", 404, title="No such silence",
                    message=f"There is no silence {silence_id}; it may have been removed "
                            "by retention.")
    return Redirect(f"/silences?done={result}", status_code=303)


routes = [silences, create_silence, expire_silence]
