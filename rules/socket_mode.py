"""Socket Mode: receive button clicks over a WebSocket when Lookout has no public URL.

Used when ``LOOKOUT_SLACK_APP_TOKEN`` (``xapp-...``) is set. slack-sdk's
``websockets`` client opens the connection (``apps.connections.open``, on the
same Web API base URL as everything else) and reconnects by itself. Each
envelope is acknowledged first, as Slack requires, then handled exactly like
a signed HTTP callback (:func:`rules.interactions.handle_payload`). Several
instances may each hold a connection; Slack delivers each click to one of
them, and the actions are idempotent anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.socket_mode.websockets import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from rules.interactions import PayloadError, handle_payload

if TYPE_CHECKING:
    from rules.runtime import Alerting

log = logging.getLogger("lookout.slack")


async def start_socket_mode(alerting: Alerting) -> SocketModeClient:
    settings = alerting.settings
    assert settings.slack_app_token
    web = AsyncWebClient(**({"base_url": settings.slack_api_url} if settings.slack_api_url
                            else {}))
    client = SocketModeClient(app_token=settings.slack_app_token, web_client=web,
                              logger=logging.getLogger("lookout.slack.socket"))

    async def on_request(sm: SocketModeClient, req: SocketModeRequest) -> None:
        await sm.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        if req.type != "interactive":
            return
        try:
            await handle_payload(req.payload, alerting.actions, alerting.clock,
                                 alerting.kick_sender, settings.slack_response_url_origin_list,
                                 alerting.user_utc_offset, alerting.user_name)
        except PayloadError as exc:
            log.info("ignored Socket Mode payload", extra={"reason": str(exc)})
        except Exception as exc:  # noqa: BLE001 - keep the connection serving other clicks
            log.warning("Socket Mode action failed", extra={"error": str(exc)[:300]})

    client.socket_mode_request_listeners.append(on_request)
    alerting.keep(asyncio.create_task(_connect(client)))
    return client


async def _connect(client: SocketModeClient) -> None:
    """Connect, retrying with backoff while Slack is unreachable; slack-sdk reconnects after."""
    delay = 1.0
    while not client.closed:
        try:
            await client.connect()
        except Exception as exc:  # noqa: BLE001 - retried; HTTP callbacks still work meanwhile
            log.warning("Socket Mode connection failed; retrying",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:300],
                               "retry_in": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
        else:
            log.info("Slack Socket Mode connected")
            return
