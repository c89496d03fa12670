"""Tables owned by the rule engine.

- ``rule_state``: one row per alert identity that is pending or firing, so a
  restart keeps ``for`` progress and knows what was already notified.
- ``alerts``: one row per firing episode (what the UI, the API and Slack see),
  with who acknowledged/resolved it and the Slack ``channel``+``ts`` of its
  one message.
- ``alert_history``: every transition with its value and time.
- ``outbox``: notifications written in the same transaction as the
  transition that caused them; the sender delivers them to Slack.
- ``silences``: label matchers with a time window.
- ``rule_ticks``: the last evaluated tick slot, so several instances sharing
  one database evaluate each tick once.
- ``slack_replays``: signatures of accepted Slack callbacks until they are too
  old to verify, so a replayed click is refused across restarts and instances.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Index, Integer, String, Table, Text

from lookout.db import metadata

BigId = BigInteger().with_variant(Integer, "sqlite")

rule_state = Table(
    "rule_state",
    metadata,
    Column("fingerprint", String(32), primary_key=True),
    Column("rule", String(200), nullable=False),
    Column("labels", Text, nullable=False),  # JSON object of the group labels
    Column("state", String(16), nullable=False),  # pending | firing
    Column("severity", String(16), nullable=True),
    Column("value", Double, nullable=True),
    Column("active_since", Double, nullable=False),
    Column("last_true_at", Double, nullable=False),
    Column("fired_at", Double, nullable=True),
    Column("alert_id", BigInteger, nullable=True),
    Column("updated_at", Double, nullable=False),
    Index("ix_rule_state_rule", "rule"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("fingerprint", String(32), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("labels", Text, nullable=False),  # JSON: rule, group labels and the rule's labels
    Column("state", String(16), nullable=False),  # firing | resolved
    Column("severity", String(16), nullable=True),
    Column("value", Double, nullable=True),
    Column("threshold", Double, nullable=True),
    Column("active_since", Double, nullable=False),
    Column("fired_at", Double, nullable=False),
    Column("resolved_at", Double, nullable=True),
    Column("resolved_by", String(200), nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    Column("acknowledged_at", Double, nullable=True),
    Column("notified_severity", String(16), nullable=True),
    Column("last_notified_at", Double, nullable=True),
    # escalate_after counts from here: when the alert fired, then its last page (0823).
    Column("escalated_at", Double, nullable=True),
    # "Assign to…" in Slack (0824): the user's name as shown, and their id to mention.
    Column("assigned_to", String(200), nullable=True),
    Column("assigned_slack_id", String(32), nullable=True),
    Column("channel", String(200), nullable=True),  # where to post (rule's or the default)
    Column("slack_channel", String(64), nullable=True),  # channel id Slack answered with
    Column("slack_ts", String(64), nullable=True),
    # Lease held by the one sender delivering this alert's outbox rows.
    Column("send_owner", String(64), nullable=True),
    Column("send_until", Double, nullable=True),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_fingerprint", "fingerprint"),
)

alert_history = Table(
    "alert_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=True),
    Column("fingerprint", String(32), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("ts", Double, nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("severity", String(16), nullable=True),
    Column("value", Double, nullable=True),
    Column("actor", String(200), nullable=True),
    Column("note", Text, nullable=False, default=""),
    Index("ix_alert_history_alert_id", "alert_id"),
    Index("ix_alert_history_fingerprint_ts", "fingerprint", "ts"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("event", String(32), nullable=False),  # fired|escalated|repeat|resolved|acknowledged...
    Column("actor", String(200), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Double, nullable=False),
    Column("sent_at", Double, nullable=True),
    Column("last_error", Text, nullable=True),
    # The alert's value and severity when the event happened: a thread reply quotes
    # those, not whatever the alert shows when a delayed delivery finally goes out.
    Column("value", Double, nullable=True),
    Column("severity", String(16), nullable=True),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
    Index("ix_outbox_alert_id", "alert_id"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("matchers", Text, nullable=False),  # JSON object label -> value (all must equal)
    Column("starts_at", Double, nullable=False),
    Column("ends_at", Double, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
    Index("ix_silences_ends_at", "ends_at"),
)

rule_ticks = Table(
    "rule_ticks",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    # Start (epoch seconds) of the last claimed slot; a time, not a slot number, so
    # changing LOOKOUT_EVAL_INTERVAL never strands the claim in the "future".
    Column("slot_start", Double, nullable=False),
    Column("ticked_at", Double, nullable=False),
    Column("owner", String(64), nullable=False),
    # Since when ticks have followed each other without a gap (see rules.engine).
    Column("observed_since", Double, nullable=True),
)

# One row per accepted signed Slack callback. The primary key makes the claim an
# insert that conflicts on a duplicate, so two instances (or a restarted one)
# cannot both apply the same click; rows are pruned once the signature's
# timestamp is too old to verify anyway.
slack_replays = Table(
    "slack_replays",
    metadata,
    Column("signature", String(80), primary_key=True),  # "v0=" + 64 hex digits
    Column("expires_at", Double, nullable=False),
    Index("ix_slack_replays_expires_at", "expires_at"),
)
