"""Who an error happened to: one string per event, for "N users affected" on issues.

Sentry events carry a ``user`` object; the first of ``id``, ``email``,
``username``, ``ip_address`` that is set names the user (Sentry's own order).
Lookout SDK errors name the user with the attribute ``user.id`` (or ``user``,
a string, number or the same kind of object), e.g.
``lookout_sdk.capture_exception(attributes={"user.id": "42"})`` or
``with lookout_sdk.request_context(request_id=rid, user="42"):``.

The value is counted per issue in ``issue_tags`` under the key ``user`` (see
:mod:`collector.issues`); the event keeps the full object in ``extra`` /
``attributes`` as before.
"""

from __future__ import annotations

from typing import Any

USER_FIELDS = ("id", "email", "username", "ip_address")
MAX_USER_LENGTH = 200  # issue_tags.value
# sentry-sdk sends this placeholder asking the server to fill in the client's
# address; it names nobody by itself.
_PLACEHOLDERS = frozenset({"{{auto}}"})


def user_key(user: Any) -> str | None:
    """The identifying string of a user object or scalar, or None when it names nobody."""
    if isinstance(user, dict):
        for name in USER_FIELDS:
            found = _scalar(user.get(name))
            if found is not None:
                return found
        return None
    return _scalar(user)


def attributes_user(attributes: dict[str, Any]) -> str | None:
    """The user named by a Lookout SDK record's attributes (``user.id``, else ``user``)."""
    return user_key(attributes.get("user.id")) or user_key(attributes.get("user"))


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    if not text or text in _PLACEHOLDERS:
        return None
    return text[:MAX_USER_LENGTH]
