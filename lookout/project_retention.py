"""A project's own retention per kind of data (``lookout project retention``, /settings).

Kinds without an override follow the ``LOOKOUT_RETENTION_<KIND>_DAYS`` settings
(themselves defaulting to ``LOOKOUT_RETENTION_DAYS``), so a project only stores
what differs. The retention job (:mod:`collector.retention`) reads every override
once per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lookout.errors import ConfigError
from lookout.projects import project_by_name
from lookout.settings import RETENTION_KINDS, Settings
from lookout.tables import project_retention

# A century: more is a typo, and days * 86400 must stay a sane timestamp offset.
MAX_DAYS = 36_500


@dataclass(frozen=True, slots=True)
class KindRetention:
    kind: str
    days: int
    overridden: bool  # False: the setting's value


def parse_days(kind: str, raw: object) -> int | None:
    """``raw`` (CLI option or form field) as days; "" or "default" clears the override."""
    text = str(raw).strip()
    if text in ("", "default"):
        return None
    if not text.isdigit() or not 0 < int(text) <= MAX_DAYS:
        raise ConfigError(f"{kind} retention must be a whole number of days from 1 to "
                          f"{MAX_DAYS}, or 'default' (got {text[:40]!r})")
    return int(text)


async def set_retention(engine: AsyncEngine, project: str,
                        changes: Mapping[str, int | None]) -> None:
    """Set (days) or clear (None) the project's override for each kind in ``changes``."""
    unknown = set(changes) - set(RETENTION_KINDS)
    if unknown:
        raise ConfigError(f"unknown kind of data {min(unknown)!r} "
                          f"(one of {', '.join(RETENTION_KINDS)})")
    async with engine.begin() as conn:
        project_id = await project_by_name(conn, project)
        for kind, days in changes.items():
            await conn.execute(delete(project_retention).where(
                project_retention.c.project_id == project_id, project_retention.c.kind == kind))
            if days is not None:
                await conn.execute(project_retention.insert().values(
                    project_id=project_id, kind=kind, days=days))


async def get_retention(engine: AsyncEngine, settings: Settings,
                        project: str) -> list[KindRetention]:
    """Days kept per kind for ``project``, saying which are its own."""
    async with engine.connect() as conn:
        project_id = await project_by_name(conn, project)
        own = (await overrides(conn)).get(project_id, {})
    return [KindRetention(kind, own.get(kind, settings.retention_for(kind)), kind in own)
            for kind in RETENTION_KINDS]


async def overrides(conn: AsyncConnection) -> dict[int, dict[str, int]]:
    """Every override: project id -> kind -> days."""
    rows = (await conn.execute(select(project_retention.c.project_id, project_retention.c.kind,
                                      project_retention.c.days))).all()
    out: dict[int, dict[str, int]] = {}
    for row in rows:
        if row.kind in RETENTION_KINDS:
            out.setdefault(row.project_id, {})[row.kind] = row.days
    return out
