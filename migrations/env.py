"""Alembic environment: runs on the connection ``lookout.migrate`` hands over.

``render_as_batch`` lets the same migrations alter tables on SQLite (which
cannot ALTER most things in place) and PostgreSQL.
"""

from __future__ import annotations

from alembic import context

from lookout.alltables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `lookout migrate`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
