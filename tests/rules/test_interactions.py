"""Parsing a click payload: ids the database can hold, names it can store, allowed response_urls."""

from __future__ import annotations

from typing import Any

import pytest

from rules.interactions import (
    PayloadError,
    parse_click,
    response_target,
    slack_actor,
    snooze_until,
)
from rules.notify.slack_message import ACK

HOOKS = frozenset({"https://hooks.slack.com"})


def click(value: Any, **user: Any) -> dict[str, Any]:
    return {"type": "block_actions", "user": user or {"username": "alice"},
            "actions": [{"action_id": ACK, "value": value}]}


def test_alert_id_must_fit_the_column() -> None:
    assert parse_click(click("42")) == (ACK, 42, None)
    assert parse_click(click(str(2**63 - 1))) == (ACK, 2**63 - 1, None)
    for bad in (str(2**63), "9" * 30, "9" * 5000, "-1", "0", "٣", "1_0", " 1", 1, None, []):
        with pytest.raises(PayloadError, match="alert id"):
            parse_click(click(bad))


def test_user_names_the_database_cannot_store_are_refused() -> None:
    assert slack_actor(click("1", username="alice")) == "@alice"
    assert slack_actor(click("1", id="U1")) == "@U1"
    assert slack_actor(click("1", username="x" * 500)) == "@" + "x" * 100
    for bad in ("\ud800", "a\x00b", "ok\udfff"):
        with pytest.raises(PayloadError, match="user name"):
            slack_actor(click("1", username=bad))


@pytest.mark.parametrize("url", [
    "https://hooks.slack.com/actions/T1/1/abc",
    "https://HOOKS.slack.com:443/actions/T1/1/abc",
])
def test_response_url_on_slack_hooks_is_used(url: str) -> None:
    assert response_target(url, HOOKS) is not None


@pytest.mark.parametrize("url", [
    "http://hooks.slack.com/actions/x",  # not https
    "https://hooks.slack.com:8443/actions/x",
    "https://hooks.slack.com.evil.example/x",
    "https://hooks.slack.com@evil.example/x",
    "https://user:pw@hooks.slack.com/x",
    "https://evil\\@hooks.slack.com/x",
    "http://127.0.0.1:8000/admin",
    "http://[::1]/x",
    "file:///etc/passwd",
    "/relative",
    "",
    "https://hooks.slack.com/" + "a" * 3000,
    42,
    None,
])
def test_other_response_urls_are_ignored(url: Any) -> None:
    assert response_target(url, HOOKS) is None


def test_snooze_until() -> None:
    now = 1_796_250_600.0  # 2026-12-02 22:30 UTC
    assert snooze_until("1h", now, None) == now + 3600
    assert snooze_until("4h", now, -3600) == now + 4 * 3600
    assert snooze_until("morning", now, None) == 1_796_288_400.0  # 2026-12-03 09:00 UTC
    assert snooze_until("morning", now, 3600) == 1_796_284_800.0  # 09:00 CET = 08:00 UTC
    # Already the 3rd in Tokyo (07:30): 09:00 on the 4th, local time.
    assert snooze_until("morning", now, 9 * 3600) == 1_796_342_400.0
    assert snooze_until("morning", now, -8 * 3600) == 1_796_317_200.0  # 09:00 PST
    for silly in (float("nan"), float("inf"), 10**9):
        assert snooze_until("morning", now, silly) == 1_796_288_400.0
