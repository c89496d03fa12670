"""Delete everything one project stored (``lookout project delete``).

Every table that has a ``project_id`` column (all of them the collector's
today) is emptied of the project's rows, found from the shared metadata so
that a table added later is not forgotten; the issue tables keyed by
``issue_id`` go first. Runs on the
caller's connection so the project row itself can go in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector import issue_tables
from lookout.alltables import metadata


async def delete_project_data(conn: AsyncConnection, project_id: int) -> dict[str, int]:
    """Delete the project's rows; returns rows deleted per table (those with any)."""
    deleted: dict[str, int] = {}
    issue_ids = select(issue_tables.issues.c.id).where(
        issue_tables.issues.c.project_id == project_id).scalar_subquery()
    for table in (issue_tables.issue_hourly, issue_tables.issue_tags):
        result = await conn.execute(delete(table).where(table.c.issue_id.in_(issue_ids)))
        if result.rowcount:
            deleted[table.name] = result.rowcount
    for table in reversed(metadata.sorted_tables):
        if "project_id" not in table.c or not table.name or table.name in (
                "project_keys", "projects"):
            continue
        result = await conn.execute(delete(table).where(table.c.project_id == project_id))
        if result.rowcount:
            deleted[table.name] = result.rowcount
    return deleted
