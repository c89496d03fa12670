"""Caps on the alert groups one rule may open, and the one "N more groups" alert beyond them.

A group is one value of a rule's ``group_by`` labels, and those values come
from ingested data: a DSN key is public, so one request naming 600 made-up
services would otherwise open 600 alerts and queue 600 Slack messages ahead of
every real alert (measured: a real alert waited 107 s behind such a flood).
So a rule keeps at most ``max_groups`` groups (pending or firing) at once and
starts at most ``max_new`` of them per evaluation; the breaching groups left
over are counted in one extra *overflow* alert of the rule, which fires,
escalates and resolves like any other (its value is how many groups it
stands for). Groups that already have a track always go on: a cap never
hides the progress or resolution of an alert already known.

Which new groups get a track first: the most severe, then the worst value,
so a real outage with many errors is preferred over a crowd of one-off
groups.

Pure functions; the engine calls :func:`cap_groups` and stores the result.
"""

from __future__ import annotations

import math
from typing import Any

from rules.config import Rule
from rules.identity import fingerprint
from rules.state import SEVERITY_RANK, Observation

OVERFLOW_LABELS = {"overflow": "groups"}
"""The overflow alert's group labels (its identity, and what a silence can match)."""
OVERFLOW_KIND = "overflow"
"""``alerts.kind`` of an overflow alert (its value is a count of groups, not the rule's value)."""


def overflow_fingerprint(rule_name: str) -> str:
    return fingerprint(rule_name, OVERFLOW_LABELS)


def is_overflow(labels: dict[str, str]) -> bool:
    return labels.get("overflow") == OVERFLOW_LABELS["overflow"]


def _badness(rule: Rule, obs: Observation) -> tuple[Any, ...]:
    """Sort key: most severe first, then the value furthest past the threshold."""
    value = obs.value if obs.value is not None and math.isfinite(obs.value) else None
    worse = 0.0 if value is None else (value if rule.thresholds.comparison == "below" else -value)
    return (-SEVERITY_RANK[obs.severity], value is None, worse, sorted(obs.labels.items()))


def cap_groups(rule: Rule, observations: dict[str, Observation], tracked: set[str], *,
               max_groups: int, max_new: int) -> dict[str, Observation]:
    """The observations the engine should step this evaluation.

    ``observations`` maps fingerprints to what the rule sees now; ``tracked``
    holds the fingerprints the rule already has tracks for. New breaching
    groups beyond the room left (``max_groups`` minus the groups tracked, at
    most ``max_new``) are dropped and counted in one overflow observation.
    Non-breaching new groups are dropped too: stepping them is a no-op.
    """
    overflow_fp = overflow_fingerprint(rule.name)
    kept = {fp: o for fp, o in observations.items() if fp in tracked}
    new = sorted(((fp, o) for fp, o in observations.items()
                  if fp not in tracked and o.severity is not None),
                 key=lambda item: _badness(rule, item[1]))
    room = max(0, min(max_new, max_groups - len(tracked - {overflow_fp})))
    kept.update(new[:room])
    excess = [o for _fp, o in new[room:]]
    if excess:
        severity = max((o.severity for o in excess), key=SEVERITY_RANK.__getitem__)
        kept[overflow_fp] = Observation(dict(OVERFLOW_LABELS), float(len(excess)), severity,
                                        {"max_groups": str(max_groups)})
    return kept


def _esc(text: str) -> str:
    """Slack mrkdwn escaping (only &, < and > are special)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def overflow_message(alert: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """What Slack shows for an overflow alert: (the alert as rendered, text fallback, summary).

    The Block Kit renderer knows rule kinds, not overflow counts: it is given
    the alert with its count as a plain number, and the "N more groups"
    sentence as the summary line and as the notification text.
    """
    count = int(alert["value"] or 0)
    limit = alert["labels"].get("max_groups", "?")
    shown = {**alert, "kind": "log_count", "threshold": None}  # log_count: a whole number
    if alert["state"] == "resolved":
        state, sentence = "RESOLVED", f"no more groups beyond this rule's max_groups ({limit})"
    else:
        state = (alert["severity"] or "alert").upper()
        sentence = (f"{count:,} more groups breach this rule beyond its max_groups ({limit}); "
                    "they have no alert of their own")
    return shown, f"[{state}] {_esc(alert['rule'])}: {sentence}", sentence
