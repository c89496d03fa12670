"""Parsing a click payload: ids the database can hold, names it can store, allowed response_urls."""

from __future__ import annotations

from typing import Any

import pytest

from rules.interactions import PayloadError, parse_click, response_target, slack_actor
from rules.notify.slack_message import ACK

HOOKS = frozenset({"https://hooks.slack.com"})


def click(value: Any, **user: Any) -> dict[str, Any]:
    return {"type": "block_actions", "user": user or {"username": "alice"},
            "actions": [{"action_id": ACK, "value": value}]}


def test_alert_id_must_fit_the_column() -> None:
    assert parse_click(click("42")) == (ACK, 42)
    assert parse_click(click(str(2**63 - 1))) == (ACK, 2**63 - 1)
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
