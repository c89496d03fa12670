"""Rules file parsing: every error reported as file:line: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookout.cli import main
from rules.config import RulesError, load_rules, parse_rules

GOOD = """\
rules:
  - name: checkout-error-rate
    kind: error_rate
    service: checkout
    window: 5m
    for: 5m
    keep_firing_for: 10m
    thresholds: {warning: 0.02, critical: 0.05}
    min_requests: 20
    channel: "#prod-alerts"
    runbook: https://wiki.example.com/checkout
    labels: {team: payments}
  - name: slow
    kind: metric
    metric: db.query_ms
    aggregate: p95
    thresholds: {critical: 250}
    group_by: [service]
  - name: errors-logged
    kind: log_count
    query: "level:error service:api"
    window: 10m
    thresholds: {warning: 10, critical: 100}
  - name: quiet
    kind: absence
    window: 15m
  - name: low-traffic
    kind: metric
    metric: orders
    aggregate: count
    comparison: below
    thresholds: {warning: 10, critical: 1}
"""


def test_good_file_and_defaults() -> None:
    rules = parse_rules(GOOD)
    assert [r.name for r in rules] == ["checkout-error-rate", "slow", "errors-logged", "quiet",
                                       "low-traffic"]
    r = rules[0]
    assert (r.window, r.for_, r.keep_firing_for, r.min_requests) == (300, 300, 600, 20)
    assert r.repeat_interval == 4 * 3600 and r.group_by == ("service", "environment")
    assert r.labels == {"team": "payments"} and r.line == 2
    assert rules[1].group_by == ("service",) and rules[1].window == 300
    assert rules[2].log_filter is not None and rules[2].log_filter.uses_rollups
    assert rules[2].log_filter.min_level == 40 and rules[2].log_filter.service == "api"
    assert rules[3].severity == "critical"
    assert rules[4].thresholds.breached(0) == "critical"
    assert rules[4].thresholds.breached(5) == "warning"
    assert rules[4].thresholds.breached(50) is None
    assert rules[0].max_groups is None  # the LOOKOUT_ALERT_MAX_GROUPS default applies
    assert parse_rules("rules:\n  - {name: x, kind: absence, max_groups: 5}\n")[0].max_groups == 5


BAD = """\
rules:
  - name: a
    kind: error_rat
    window: 5x
  - name: b
    kind: error_rate
    thresholds: {warning: 0.05, critical: 0.02}
    bogus: 1
  - kind: metric
    name: c
    aggregate: p42
    thresholds: {critical: high}
  - name: d
    kind: log_count
    query: "level:loud"
    thresholds: {critical: 3}
  - name: b
    kind: absence
    for: soon
    min_requests: 3
"""


def test_every_error_with_its_line() -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(BAD, "rules.yml")
    assert info.value.errors == [
        ("rules.yml:3: rule 'a': unknown kind 'error_rat' "
        "(one of error_rate, metric, log_count, new_issue, absence)"),
        "rules.yml:4: rule 'a': window: '5x' is not a duration (use e.g. 30s, 5m, 1h30m, 2d)",
        "rules.yml:7: rule 'b': thresholds: warning (0.05) must be below critical (0.02)",
        "rules.yml:8: rule 'b': unknown key 'bogus'",
        "rules.yml:9: rule 'c': missing required key 'metric'",
        ("rules.yml:11: rule 'c': unknown aggregate 'p42' "
        "(one of avg, sum, min, max, count, p50, p95, p99)"),
        "rules.yml:12: rule 'c': thresholds.critical must be a number",
        ("rules.yml:15: rule 'd': query: unknown level 'loud' "
        "(one of critical, debug, error, fatal, info, notice, trace, warn, warning)"),
        "rules.yml:19: rule 'b': for: 'soon' is not a duration (use e.g. 30s, 5m, 1h30m, 2d)",
        "rules.yml:20: rule 'b': unknown key 'min_requests' for kind absence",
    ]


@pytest.mark.parametrize("text, message", [
    ("rules: [\n  {name: x", "rules.yml:2: invalid YAML"),
    ("- a\n", "rules.yml:1: the file must be a mapping with a `rules:` list"),
    ("rule: []\n", "rules.yml:1: unknown top-level key 'rule' (expected `rules`)"),
    ("rules:\n  - name: x\n    kind: error_rate\n",
     "rules.yml:2: rule 'x': missing required key 'thresholds'"),
    (("rules:\n  - name: x\n    kind: log_count\n    query: timeout\n    window: 2h\n"
     "    thresholds: {critical: 1}\n"), "rules.yml:5: rule 'x': a query with free text"),
    ("rules:\n  - name: x\n    kind: absence\n    window: 30s\n",
     "rules.yml:4: rule 'x': window must be at least 1m"),
    ("rules:\n  - name: x\n    kind: absence\n    max_groups: 0\n",
     "rules.yml:4: rule 'x': max_groups must be a whole number >= 1"),
    ("rules:\n  - name: x\n    kind: absence\n    max_groups: many\n",
     "rules.yml:4: rule 'x': max_groups must be a whole number >= 1"),
    ("rules:\n  - name: x\n    kind: absence\n    escalate_after: 15m\n",
     "rules.yml:2: rule 'x': escalate_after and escalate_to go together"),
    ("rules:\n  - name: x\n    kind: absence\n    escalate_after: 30s\n    escalate_to: U1234\n",
     "rules.yml:4: rule 'x': escalate_after must be at least 1m"),
    (("rules:\n  - name: x\n    kind: absence\n    escalate_after: 15m\n"
     "    escalate_to: [\"<!channel>\"]\n"),
     "rules.yml:5: rule 'x': escalate_to must list Slack user ids (U…), user group ids (S…)"),
    ("rules:\n  - name: x\n    kind: absence\n    escalate_after: 15m\n    escalate_to: []\n",
     "rules.yml:5: rule 'x': escalate_to must list"),
])
def test_single_errors(text: str, message: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "rules.yml")
    assert info.value.errors[0].startswith(message), info.value.errors


def test_empty_rules_is_valid() -> None:
    assert parse_rules("rules: []\n") == [] and parse_rules("") == []


def test_check_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    assert main(["rules", "check", str(good)]) == 0
    assert "5 rules OK" in capsys.readouterr().out
    assert main(["rules", "check", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 10 and all(line.startswith(f"{bad}:") for line in err)
    monkeypatch.setenv("LOOKOUT_RULES_FILE", str(good))
    assert main(["rules", "check"]) == 0
    monkeypatch.delenv("LOOKOUT_RULES_FILE")
    assert main(["rules", "check"]) == 1
    assert "no rules file" in capsys.readouterr().err
    assert main(["rules", "check", str(tmp_path / "missing.yml")]) == 1
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(RulesError):
        load_rules(tmp_path / "missing.yml")


def test_escalation_options() -> None:
    (rule,) = parse_rules("rules:\n  - name: x\n    kind: absence\n    escalate_after: 15m\n"
                          "    escalate_to: [\"@oncall\", U0BOB, S0DBA, U0BOB]\n")
    assert rule.escalate_after == 900 and rule.escalate_to == ("@oncall", "U0BOB", "S0DBA")
    assert rule.describe()["escalate_to"] == ["@oncall", "U0BOB", "S0DBA"]
    (plain,) = parse_rules("rules:\n  - name: x\n    kind: absence\n")
    assert plain.escalate_after is None and plain.escalate_to == ()
    assert plain.ack_timeout is None
    (timed,) = parse_rules("rules:\n  - name: x\n    kind: absence\n    ack_timeout: 1h\n")
    assert timed.ack_timeout == 3600 and timed.describe()["ack_timeout"] == 3600
    with pytest.raises(RulesError) as info:
        parse_rules("rules:\n  - name: x\n    kind: absence\n    ack_timeout: 10s\n",
                    "rules.yml")
    assert info.value.errors == ["rules.yml:4: rule 'x': ack_timeout must be at least 1m"]
