"""Naming the user of an error event (pure)."""

from __future__ import annotations

import pytest

from collector.users import MAX_USER_LENGTH, attributes_user, user_key


@pytest.mark.parametrize(("user", "expected"), [
    ({"id": 42, "email": "a@example.com", "username": "ann", "ip_address": "10.0.0.1"}, "42"),
    ({"email": "a@example.com", "username": "ann"}, "a@example.com"),
    ({"id": "", "username": "ann", "ip_address": "10.0.0.1"}, "ann"),
    ({"ip_address": "10.0.0.1"}, "10.0.0.1"),
    ({"ip_address": "{{auto}}"}, None),  # sentry-sdk's "fill in the client IP" placeholder
    ({"id": None, "segment": "pro"}, None),
    ({"id": {"nested": 1}, "email": "b@example.com"}, "b@example.com"),
    ({"id": True}, None),
    ("  u-7 ", "u-7"),
    (7, "7"),
    ("", None),
    (None, None),
    (["a"], None),
])
def test_user_key_takes_sentrys_order(user: object, expected: str | None) -> None:
    assert user_key(user) == expected


def test_user_key_is_cut_to_the_tag_length() -> None:
    assert user_key("x" * 500) == "x" * MAX_USER_LENGTH


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"user.id": "42", "user": "someone-else"}, "42"),
    ({"user": "ann"}, "ann"),
    ({"user": {"email": "a@example.com"}}, "a@example.com"),
    ({"user.id": "", "user": 9}, "9"),
    ({"order_id": 1}, None),
    ({}, None),
])
def test_attributes_user(attributes: dict, expected: str | None) -> None:
    assert attributes_user(attributes) == expected
