"""``POST /slack/interactions``: Slack's signed interactivity callbacks.

The signature (``X-Slack-Signature`` over ``v0:{timestamp}:{raw body}`` with
the signing secret, timestamp within 5 minutes) is checked before the body is
parsed; a bad or stale one gets 401 and changes nothing. Headers and bodies
Slack never sends (a timestamp that is not whole seconds, a body that is not
UTF-8) are 400 before that, since the verifier cannot even read them. A
validly signed request seen before (same signature, still inside the 5
minutes) is a replay: it is answered 200 and not applied again. That memory
is in the database (:mod:`rules.replay`), so it survives restarts and is
shared by every instance. Slack wants an answer within 3 s: the action itself
is a short transaction, and if it is still running after ``ANSWER_WITHIN``
seconds we answer anyway and let it finish.
"""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import parse_qs

from litestar import Request, Response, post
from slack_sdk.signature import SignatureVerifier

from lookout.http import error_response, services
from rules import replay
from rules.interactions import PayloadError, handle_payload

ANSWER_WITHIN = 2.5
SIGNATURE_MAX_AGE = 300.0  # what slack-sdk's SignatureVerifier accepts
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # epoch seconds, ASCII digits (int() takes more)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


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
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    if timestamp is not None and not _TIMESTAMP.fullmatch(timestamp):
        return error_response(400, "X-Slack-Request-Timestamp: must be epoch seconds "
                                   "(ASCII digits)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return error_response(400, "body must be UTF-8 form data")
    verifier = SignatureVerifier(secret, clock=_Clock(alerting.clock))  # type: ignore[arg-type]
    if (timestamp is None or signature is None or not _SIGNATURE.fullmatch(signature)
            or not verifier.is_valid(text, timestamp, signature)):
        return error_response(401, "invalid or stale Slack signature")
    if not await replay.claim(alerting.store.engine, signature,
                              int(timestamp) + SIGNATURE_MAX_AGE, alerting.clock()):
        return Response(content=b"", status_code=200)  # a replay: already handled
    try:
        payload = json.loads(parse_qs(text, strict_parsing=False)["payload"][0])
    except (KeyError, IndexError, ValueError, RecursionError):
        return error_response(400, "body must be form-encoded with a JSON `payload` field")
    task = asyncio.create_task(handle_payload(payload, alerting.actions, alerting.clock,
                                              alerting.kick_sender,
                                              alerting.settings.slack_response_url_origin_list,
                                              alerting.user_utc_offset, alerting.user_name))
    try:
        await asyncio.wait_for(asyncio.shield(task), ANSWER_WITHIN)
    except PayloadError as exc:
        return error_response(400, str(exc))
    except TimeoutError:
        alerting.keep(task)  # finishes in the background; Slack already has its answer
    return Response(content=b"", status_code=200)
