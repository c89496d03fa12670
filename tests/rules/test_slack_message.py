"""Slack message text: every value that can come from ingested data is escaped in every field."""

from __future__ import annotations

import json
from typing import Any

from rules.notify.slack_message import (
    alert_blocks,
    condition_text,
    escape,
    summary_text,
    thread_text,
)

HOSTILE = "<https://evil.example|Reset your SSO password> & <!channel>"


def alert(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 7, "rule": "errors", "kind": "error_rate", "state": "firing",
        "severity": "critical", "value": 0.5, "threshold": 0.05, "fired_at": 1_700_000_000.0,
        "labels": {"rule": "errors", "service": HOSTILE, "environment": "<!here>",
                   "issue": "1"},
        "acknowledged_by": None, "resolved_by": None, "resolved_at": None}
    base.update(changes)
    return base


def raw_specials(value: Any) -> list[str]:
    """Slack control sequences in ``value`` that did not come from Lookout itself."""
    text = json.dumps(value, ensure_ascii=False)
    return [s for s in ("<https://evil", "<!channel", "<!here", "<!everyone") if s in text]


def test_escape_only_touches_slack_specials() -> None:
    assert escape("a & <b> | c") == "a &amp; &lt;b&gt; | c"
    assert escape(None) == "None"


def test_text_fallback_is_escaped() -> None:
    text = summary_text(alert())
    assert raw_specials(text) == []
    assert "&lt;https://evil.example|Reset your SSO password&gt; &amp; &lt;!channel&gt;" in text


def test_new_issue_title_is_escaped_in_text_and_blocks() -> None:
    issue = alert(kind="new_issue", value=3, threshold=None,
                  labels={"rule": "new", "title": "<!channel>: <https://evil.example|x>",
                          "issue": "12", "service": "api"})
    assert raw_specials(summary_text(issue)) == []
    assert raw_specials(alert_blocks(issue, "http://lookout.test")) == []


def test_blocks_updates_and_replies_are_escaped() -> None:
    for state in (alert(), alert(acknowledged_by="<!everyone>"),
                  alert(state="resolved", resolved_by="<!here>", resolved_at=1_700_000_100.0)):
        blocks = alert_blocks(state, "http://lookout.test", runbook="https://wiki/x?a=1&b=<2>|y",
                              summary=HOSTILE)
        assert raw_specials(blocks) == []
        assert "<!date^" in json.dumps(blocks)  # Lookout's own date stamps stay
        for event in ("escalated", "repeat", "resolved", "acknowledged", "silenced", "paged"):
            assert raw_specials(thread_text(event, state, "<!channel>")) == []
    # A page's only raw mentions are the ones the sender built from the rule's ids.
    page = thread_text("paged", alert(fired_at=1_700_000_000.0), None, ["<@U0BOB>"],
                       1_700_000_900.0)
    assert page is not None and page.endswith("— not acknowledged for 15m")
    assert raw_specials(page.replace("<@U0BOB>", "")) == []
    runbook = alert_blocks(alert(), "http://b", runbook="https://wiki/x?a=1&b=<2>|y")
    assert "<https://wiki/x?a=1&amp;b=&lt;2&gt;%7Cy|Runbook>" in json.dumps(runbook)


def test_no_data_is_not_compared_with_the_threshold():
    alert = {"kind": "error_rate", "value": None, "threshold": 0.05, "labels": {}}
    assert condition_text(alert) == "no data"
