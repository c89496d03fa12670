"""Tables owned by the core: projects and their ingest keys, users, API tokens, meta.

Timestamps are stored as epoch seconds (double precision) everywhere: one
unit across SQLite and PostgreSQL, cheap to compare and to bucket by minute.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from lookout.db import metadata

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    # How this project's events are grouped (docs/grouping.md). New projects get the
    # current version (collector.grouping.LATEST_VERSION); projects created before
    # versions existed stay on 1 until switched (``lookout project grouping``).
    Column("grouping_version", SmallInteger, nullable=False, default=3, server_default="1"),
    # Until then, events of a project switched to a newer version also look for issues
    # under the fingerprint of the previous version, so existing issues keep their events.
    Column("grouping_fallback_until", Double, nullable=True),
)

project_keys = Table(
    "project_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Double, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    # Admins manage users, tokens and projects; other users read and triage.
    Column("is_admin", Boolean, nullable=False, default=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    # Only a SHA-256 of the token is stored; the token itself is shown once.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double, nullable=True),
)

meta = Table(
    "lookout_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# A project's own retention for one kind of data (logs, errors, metrics, requests), in
# days; kinds without a row follow the LOOKOUT_RETENTION_*_DAYS settings.
project_retention = Table(
    "project_retention",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("days", Integer, nullable=False),
    UniqueConstraint("project_id", "kind"),
)
