"""Slack button clicks (``block_actions`` payloads), whichever way they arrive.

Both the signed HTTP endpoint and Socket Mode hand the decoded payload to
:func:`handle_payload`, so the two paths cannot drift apart. The person who
clicked is recorded as ``@username`` (Slack's ``user.username``, else
``user.name``, else the user id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.webhook.async_client import AsyncWebhookClient

from rules.actions import Actions, Outcome
from rules.notify.slack_message import ACK, RESOLVE, SILENCE

log = logging.getLogger("lookout.slack")
_pending: set[asyncio.Task[None]] = set()  # keeps fire-and-forget replies alive until done


class PayloadError(ValueError):
    """The payload is not a block_actions click on one of our buttons."""


def slack_actor(payload: dict[str, Any]) -> str:
    user = payload.get("user") or {}
    if not isinstance(user, dict):
        user = {}
    name = user.get("username") or user.get("name") or user.get("id") or "unknown"
    return f"@{str(name)[:100]}"


def parse_click(payload: Any) -> tuple[str, int]:
    """(action_id, alert id) of the first of our buttons in the payload."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise PayloadError("only block_actions payloads are handled")
    actions = payload.get("actions")
    if not isinstance(actions, list):
        raise PayloadError("payload has no actions")
    for action in actions:
        if isinstance(action, dict) and action.get("action_id") in (ACK, RESOLVE, SILENCE):
            try:
                return action["action_id"], int(str(action.get("value", "")))
            except ValueError:
                raise PayloadError("action value is not an alert id") from None
    raise PayloadError("no Lookout button in this payload")


async def handle_payload(payload: Any, actions: Actions, clock: Callable[[], float],
                         on_change: Callable[[], None] | None = None) -> Outcome:
    action_id, alert_id = parse_click(payload)
    actor = slack_actor(payload)
    now = clock()
    if action_id == ACK:
        outcome = await actions.acknowledge(alert_id, actor, now)
    elif action_id == RESOLVE:
        outcome = await actions.resolve(alert_id, actor, now)
    else:
        outcome = await actions.silence(alert_id, actor, now)
    if outcome.changed and on_change is not None:
        on_change()
    if not outcome.changed:
        response_url = payload.get("response_url")
        if isinstance(response_url, str) and response_url.startswith(("https://", "http://")):
            task = asyncio.create_task(_tell(response_url, outcome.message()))
            _pending.add(task)
            task.add_done_callback(_pending.discard)
    return outcome


async def _tell(response_url: str, text: str) -> None:
    """An ephemeral note to the person who clicked ("already resolved; nothing changed")."""
    try:
        await AsyncWebhookClient(response_url, timeout=5).send(
            text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # noqa: BLE001 - a courtesy message; never fails the click
        log.info("could not answer on response_url", extra={"error": str(exc)[:200]})
