"""The rule engine: rules as code, evaluation over rollups, alerts, and Slack."""
