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

# Full-text search objects are created by raw SQL in a migration (FTS5 on SQLite,
# a pg_trgm GIN index on PostgreSQL); SQLAlchemy's metadata cannot describe them.
FTS_OBJECTS = ("logs_fts", "ix_logs_message_trgm")


def include_object(_obj, name, _type, _reflected, _compare_to) -> bool:
    return not (name or "").startswith(FTS_OBJECTS)


context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  compare_type=True, include_object=include_object)
with context.begin_transaction():
    context.run_migrations()
