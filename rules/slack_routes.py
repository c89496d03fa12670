"""``POST /slack/interactions``: Slack's signed interactivity callbacks.

The signature (``X-Slack-Signature`` over ``v0:{timestamp}:{raw body}`` with
the signing secret, timestamp within 5 minutes) is checked before anything
is parsed; a bad or stale one gets 401 and changes nothing. A validly signed
request seen before (same signature, still inside the 5 minutes) is a replay:
it is answered 200 and not applied again (:class:`ReplayGuard`; per process,
and every action is idempotent anyway except that a replayed "Silence 1h"
would add a second silence). Slack wants an answer within 3 s: the action
itself is a short transaction, and if it is still running after
``ANSWER_WITHIN`` seconds we answer anyway and let it finish.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

from litestar import Request, Response, post
from slack_sdk.signature import SignatureVerifier

from lookout.http import error_response, services
from rules.interactions import PayloadError, handle_payload

ANSWER_WITHIN = 2.5
SIGNATURE_MAX_AGE = 300.0  # what slack-sdk's SignatureVerifier accepts
REPLAY_MEMORY = 100_000  # signatures remembered at most (about 6 MB)


class ReplayGuard:
    """Signatures of accepted requests until their timestamp is too old to verify."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def first_time(self, signature: str, timestamp: str, now: float) -> bool:
        """True the first time ``signature`` is offered; False for a replay."""
        if signature in self._seen:
            return False
        if len(self._seen) >= REPLAY_MEMORY:
            self._seen = {s: until for s, until in self._seen.items() if until > now}
        try:
            until = float(timestamp) + SIGNATURE_MAX_AGE
        except ValueError:
            until = now + SIGNATURE_MAX_AGE
        self._seen[signature] = until
        return True


class _Clock:
    def __init__(self, now: object) -> None:
        self.now = now  # type: ignore[assignment]


@post("/slack/interactions", status_code=200)
async def slack_interactions(request: Request) -> Response:
    alerting = services(request).alerting
    secret = services(request).settings.slack_signing_secret
    if alerting is None or not secret:
        return error_response(404, "Slack interactivity is not configured "
                                   "(set LOOKOUT_SLACK_SIGNING_SECRET)")
    body = await request.body()
    verifier = SignatureVerifier(secret, clock=_Clock(alerting.clock))  # type: ignore[arg-type]
    if not verifier.is_valid_request(body, dict(request.headers)):
        return error_response(401, "invalid or stale Slack signature")
    guard: ReplayGuard = request.app.state.setdefault("slack_replay_guard", ReplayGuard())
    if not guard.first_time(request.headers.get("x-slack-signature", ""),
                            request.headers.get("x-slack-request-timestamp", ""),
                            alerting.clock()):
        return Response(content=b"", status_code=200)  # a replay: already handled
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        return error_response(400, "body must be form-encoded with a JSON `payload` field")
    task = asyncio.create_task(handle_payload(payload, alerting.actions, alerting.clock,
                                              alerting.kick_sender))
    try:
        await asyncio.wait_for(asyncio.shield(task), ANSWER_WITHIN)
    except PayloadError as exc:
        return error_response(400, str(exc))
    except TimeoutError:
        alerting.keep(task)  # finishes in the background; Slack already has its answer
    return Response(content=b"", status_code=200)
