"""Tables for issues (groups of error events), owned by the collector.

``issues`` has one row per project and fingerprint. ``issue_hourly`` keeps
event counts per hour (sparklines, "events in the last 24 h") and
``issue_tags`` the services, releases, environments and users an issue was
seen in, with counts (so "users affected" is a count of its ``user`` rows, an
index range scan). All counters are written by additive upserts in the same
transaction as the error rows, so they never drift from the events table.

``rate_counters`` holds the per-project, per-minute event counts behind the
ingest rate limit, shared by every instance on one database.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from collector.tables import BigId
from lookout.db import metadata

STATUSES = ("unresolved", "resolved", "ignored")

issues = Table(
    "issues",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    # fingerprint | in_app_frames | exception | message, and the hashed values (JSON).
    Column("grouping_method", String(20), nullable=False),
    Column("grouping_inputs", Text, nullable=False),
    Column("title", String(300), nullable=False),
    Column("culprit", String(300), nullable=False, default=""),
    Column("level", SmallInteger, nullable=False),
    Column("status", String(12), nullable=False, default="unresolved"),
    Column("first_seen", Double, nullable=False),  # event timestamps
    Column("last_seen", Double, nullable=False),
    Column("event_count", BigInteger, nullable=False, default=0),
    # Server clock: when the issue was created / last reopened by a new event.
    Column("created_at", Double, nullable=False),
    Column("regressed_at", Double, nullable=True),
    Column("regressed", Boolean, nullable=False, default=False),
    Column("resolved_at", Double, nullable=True),
    Column("status_changed_at", Double, nullable=True),
    UniqueConstraint("project_id", "fingerprint"),
    Index("ix_issues_project_id_last_seen", "project_id", "last_seen"),
    Index("ix_issues_created_at", "created_at"),
    Index("ix_issues_regressed_at", "regressed_at"),
)

issue_hourly = Table(
    "issue_hourly",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("issue_id", BigInteger, nullable=False),
    Column("hour", BigInteger, nullable=False),  # epoch seconds at the start of the hour
    Column("count", BigInteger, nullable=False),
    UniqueConstraint("issue_id", "hour"),
    Index("ix_issue_hourly_hour", "hour"),
)

issue_tags = Table(
    "issue_tags",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("issue_id", BigInteger, nullable=False),
    Column("key", String(32), nullable=False),  # service | release | environment | user
    Column("value", String(200), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_seen", Double, nullable=False),
    Column("last_seen", Double, nullable=False),
    UniqueConstraint("issue_id", "key", "value"),
)

# Further fingerprints of an issue: a fingerprint computed by a newer grouping version
# that, during a transition, found the issue under its previous-version fingerprint.
# Kept after the transition, so such issues keep receiving their events.
issue_hashes = Table(
    "issue_hashes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("issue_id", BigInteger, nullable=False),
    Column("grouping_version", SmallInteger, nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("project_id", "hash"),
    Index("ix_issue_hashes_issue_id", "issue_id"),
)

rate_counters = Table(
    "rate_counters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("minute", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    UniqueConstraint("project_id", "minute"),
    Index("ix_rate_counters_minute", "minute"),
)
