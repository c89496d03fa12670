"""Slack button clicks (``block_actions`` payloads), whichever way they arrive.

Both the signed HTTP endpoint and Socket Mode hand the decoded payload to
:func:`handle_payload`, so the two paths cannot drift apart. The person who
clicked is recorded as ``@username`` (Slack's ``user.username``, else
``user.name``, else the user id). Everything in the payload is checked before
anything is stored: an alert id the database cannot hold, or a name the
database cannot store (NUL, lone surrogates), is a :class:`PayloadError`
(400), not a failed transaction.

The ephemeral "nothing changed" note goes to the payload's ``response_url``
only when that URL is on one of the allowed origins (Slack's
``https://hooks.slack.com`` unless ``LOOKOUT_SLACK_RESPONSE_URL_ORIGINS``
says otherwise) and redirects are not followed: a signed click must not make
Lookout post to an address of the sender's choosing (loopback, the internal
network).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any, NamedTuple

import aiohttp
from yarl import URL

from lookout.ids import parse_id
from rules.actions import Actions, Outcome
from rules.notify.slack_message import (
    ACK,
    ASSIGN,
    RESOLVE,
    SILENCE,
    SNOOZE,
    SNOOZE_CHOICES,
    escape,
)

log = logging.getLogger("lookout.slack")
_pending: set[asyncio.Task[None]] = set()  # keeps fire-and-forget replies alive until done
MAX_ACTOR_LENGTH = 100
RESPONSE_TIMEOUT = 5.0
SLACK_HOOKS_ORIGIN = "https://hooks.slack.com"
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


class PayloadError(ValueError):
    """The payload is not a block_actions click on one of our buttons."""


def slack_actor(payload: dict[str, Any]) -> str:
    """``@name`` of who clicked; PayloadError for a name the database could not store."""
    user = payload.get("user") or {}
    if not isinstance(user, dict):
        user = {}
    name = str(user.get("username") or user.get("name") or user.get("id") or "unknown")
    name = name[:MAX_ACTOR_LENGTH]
    if "\x00" in name or not _encodable(name):
        raise PayloadError("user name: must not contain NUL or lone surrogate characters")
    return f"@{name}"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Click(NamedTuple):
    """One of our controls, clicked: which, on which alert, and the menu choice."""

    action_id: str
    alert_id: int
    choice: str | None = None


def parse_click(payload: Any) -> Click:
    """The first of our buttons (or the snooze menu) in the payload."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise PayloadError("only block_actions payloads are handled")
    actions = payload.get("actions")
    if not isinstance(actions, list):
        raise PayloadError("payload has no actions")
    for action in actions:
        if not isinstance(action, dict):
            continue
        if action.get("action_id") in (ACK, RESOLVE, SILENCE):
            value = action.get("value")
            alert_id = parse_id(value) if isinstance(value, str) else None
            if alert_id is None:
                raise PayloadError("action value is not an alert id")
            return Click(action["action_id"], alert_id)
        if action.get("action_id") == ASSIGN:
            block = action.get("block_id")
            alert_id = parse_id(block[6:]) if isinstance(block, str) \
                and block.startswith("alert-") else None
            user = action.get("selected_user")
            if alert_id is None or not isinstance(user, str) or not SLACK_USER_ID.fullmatch(user):
                raise PayloadError("assign needs block_id 'alert-<id>' and a Slack user id")
            return Click(ASSIGN, alert_id, user)
        if action.get("action_id") == SNOOZE:
            option = action.get("selected_option")
            value = option.get("value") if isinstance(option, dict) else None
            raw_id, _, choice = value.partition(":") if isinstance(value, str) else ("", "", "")
            alert_id = parse_id(raw_id)
            if alert_id is None or choice not in dict(SNOOZE_CHOICES):
                raise PayloadError("snooze option is not '<alert id>:<1h|4h|morning>'")
            return Click(SNOOZE, alert_id, choice)
    raise PayloadError("no Lookout button in this payload")


def snooze_until(choice: str, now: float, utc_offset: float | None) -> float:
    """When a snooze chosen at ``now`` ends: in 1 or 4 hours, or at 09:00 tomorrow in the
    clicking user's time zone (``utc_offset`` seconds east of UTC; UTC when unknown)."""
    if choice == "1h":
        return now + 3600
    if choice == "4h":
        return now + 4 * 3600
    offset = utc_offset if utc_offset is not None and math.isfinite(utc_offset) \
        and abs(utc_offset) <= 14 * 3600 else 0.0
    local_midnight = (now + offset) // 86400 * 86400
    return local_midnight + 86400 + 9 * 3600 - offset


UserOffset = Callable[[str], Awaitable[float | None]]
UserName = Callable[[str], Awaitable[str | None]]


def response_target(response_url: Any, origins: Collection[str]) -> URL | None:
    """The URL to answer on, or None when it is not on an allowed origin."""
    if not isinstance(response_url, str) or len(response_url) > 2000:
        return None
    try:
        url = URL(response_url)
        origin = str(url.origin())
    except (ValueError, TypeError):
        return None
    if url.user is not None or url.password is not None or origin not in origins:
        return None
    return url


async def handle_payload(payload: Any, actions: Actions, clock: Callable[[], float],
                         on_change: Callable[[], None] | None = None,
                         response_origins: Collection[str] = (SLACK_HOOKS_ORIGIN,),
                         user_offset: UserOffset | None = None,
                         user_name: UserName | None = None) -> Outcome:
    """Apply one click. ``user_offset``: the clicking user's UTC offset from Slack
    (``users.info``), for "until 09:00 tomorrow"; without it, or when it fails, UTC.
    ``user_name``: an assignee's ``@name`` (``users.info``); else the id is shown."""
    action_id, alert_id, choice = parse_click(payload)
    actor = slack_actor(payload)
    now = clock()
    if action_id == ACK:
        outcome = await actions.acknowledge(alert_id, actor, now)
    elif action_id == RESOLVE:
        outcome = await actions.resolve(alert_id, actor, now)
    elif action_id == ASSIGN and choice is not None:
        name = (await user_name(choice) if user_name is not None else None) or choice
        outcome = await actions.assign(alert_id, actor, now, choice, name)
    elif action_id == SNOOZE and choice is not None:
        offset = None
        user = payload.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if choice == "morning" and user_offset is not None and isinstance(user_id, str):
            offset = await user_offset(user_id)
        outcome = await actions.snooze(alert_id, actor, now, snooze_until(choice, now, offset))
    else:
        outcome = await actions.silence(alert_id, actor, now)
    if outcome.changed and on_change is not None:
        on_change()
    if not outcome.changed:
        target = response_target(payload.get("response_url"), response_origins)
        if target is not None:
            task = asyncio.create_task(_tell(target, escape(outcome.message())))
            _pending.add(task)
            task.add_done_callback(_pending.discard)
        elif payload.get("response_url"):
            log.info("ignored response_url outside the allowed origins")
    return outcome


async def _tell(response_url: URL, text: str) -> None:
    """An ephemeral note to the person who clicked ("already resolved; nothing changed")."""
    body = {"text": text, "response_type": "ephemeral", "replace_original": False}
    try:
        timeout = aiohttp.ClientTimeout(total=RESPONSE_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http, \
                http.post(response_url, json=body, allow_redirects=False) as resp:
            if resp.status != 200:
                log.info("response_url refused the note", extra={"status": resp.status})
    except Exception as exc:  # noqa: BLE001 - a courtesy message; never fails the click
        log.info("could not answer on response_url", extra={"error": str(exc)[:200]})
