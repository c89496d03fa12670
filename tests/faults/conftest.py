"""Fault tests reuse the rule-engine fixtures: fake clock, Slack mimic, settings, Alerting."""

from tests.rules.conftest import alerting, clock, services, settings, slack  # noqa: F401
