"""Tables owned by the web UI: server-side sessions and failed-login records.

Sessions live in the database (not in a signed cookie) so that logging out,
or deleting a user's rows, ends the session everywhere at once, and so that
any of several ``lookout serve`` instances behind a load balancer can serve
any request. Only a SHA-256 of the session token is stored: a leaked
database dump cannot be replayed as cookies.
"""

from __future__ import annotations

from sqlalchemy import Column, Double, ForeignKey, Index, Integer, String, Table

from lookout.db import metadata

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the cookie's token
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("created_at", Double, nullable=False),
    Column("last_seen_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
    Column("ip", String(64), nullable=False, default=""),
    Column("user_agent", String(300), nullable=False, default=""),
)

# One row per login attempt that has not succeeded: reserved before the password
# is checked, kept when it was wrong (web.throttle). Throttling counts the rows of
# an (email, ip) pair and the distinct emails of an ip inside a window, so it
# holds across restarts and across instances.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("ts", Double, nullable=False),
    Index("ix_login_failures_email_ip_ts", "email", "ip", "ts"),
    Index("ix_login_failures_ip_ts", "ip", "ts"),
)
