"""Alert identity and label matching.

An alert is identified by its rule name plus the labels that split the rule
(service, environment), hashed: never by values that change, so the same
problem is always the same alert and the same Slack message.
"""

from __future__ import annotations

import hashlib

import msgspec

from rules.config import Rule


def group_labels(rule: Rule, labels: dict[str, str]) -> dict[str, str]:
    """Only the labels the rule groups by, in a stable order."""
    return {k: labels.get(k, "") for k in rule.group_by}


def fingerprint(rule_name: str, labels: dict[str, str]) -> str:
    payload = msgspec.json.encode([rule_name, sorted(labels.items())])
    return hashlib.sha256(payload).hexdigest()[:32]


def alert_labels(rule: Rule, labels: dict[str, str]) -> dict[str, str]:
    """Everything a silence can match on: ``rule``, the group labels, and the rule's labels."""
    return {**rule.labels, **labels, "rule": rule.name}


def matches(matchers: dict[str, str], labels: dict[str, str]) -> bool:
    """Equality matchers, all of which must hold (an empty matcher set matches nothing)."""
    return bool(matchers) and all(labels.get(k) == v for k, v in matchers.items())
