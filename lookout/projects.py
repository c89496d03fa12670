"""Projects, their ingest keys and DSNs.

Ingest checks the key on every request, so keys are cached in memory for a
short time (a revoked key stops working within ``KeyCache.ttl`` seconds).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lookout.db import now
from lookout.errors import ConfigError
from lookout.tables import project_keys, projects

# What a key can look like (keys are made by create_project as hex; printable ASCII is
# allowed for keys made elsewhere). Anything else, such as a NUL from ?sentry_key=%00,
# is no key: answered without a query (PostgreSQL would fail on a NUL, a 500).
_KEY_RE = re.compile(r"[\x21-\x7e]{1,64}")


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    public_key: str


def dsn_for(base_url: str, project_id: int, public_key: str) -> str:
    """``scheme://key@host[:port][/prefix]/project_id``, the same for both SDKs."""
    parts = urlsplit(base_url)
    prefix = parts.path.rstrip("/")
    return f"{parts.scheme}://{public_key}@{parts.netloc}{prefix}/{project_id}"


async def create_project(engine: AsyncEngine, name: str) -> Project:
    name = name.strip()
    if not name or len(name) > 200:
        raise ConfigError("project name must be 1-200 characters")
    key = secrets.token_hex(16)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(projects.insert().values(name=name, created_at=now()))
            project_id = result.inserted_primary_key[0]
            await conn.execute(project_keys.insert().values(
                project_id=project_id, public_key=key, active=True, created_at=now()))
    except IntegrityError:
        raise ConfigError(f"a project named {name!r} already exists") from None
    return Project(project_id, name, key)


@dataclass(frozen=True, slots=True)
class GroupingConfig:
    id: int
    name: str
    version: int
    fallback_until: float | None


async def _find(conn, name_or_id: str):  # -> Row
    query = select(projects.c.id, projects.c.name, projects.c.grouping_version,
                   projects.c.grouping_fallback_until)
    row = (await conn.execute(query.where(projects.c.name == name_or_id.strip()))).first()
    if row is None and name_or_id.strip().isdigit() and len(name_or_id.strip()) < 10:
        row = (await conn.execute(query.where(projects.c.id == int(name_or_id)))).first()
    if row is None:
        raise ConfigError(f"no project named or numbered {name_or_id[:200]!r}")
    return row


async def get_grouping(engine: AsyncEngine, name_or_id: str) -> GroupingConfig:
    async with engine.connect() as conn:
        return GroupingConfig(*(await _find(conn, name_or_id)))


async def set_grouping(engine: AsyncEngine, name_or_id: str, version: int,
                       transition_seconds: float) -> GroupingConfig:
    """Switch a project's grouping version (the caller checks the version exists).

    For ``transition_seconds`` after an upgrade, events also look for issues under
    the older versions' fingerprints (see ``collector.issues``), so existing
    issues keep receiving their events instead of being split off silently.
    """
    async with engine.begin() as conn:
        row = await _find(conn, name_or_id)
        # Upgrading (or re-running on the same version) opens the window anew; 0 closes
        # it; a downgrade has none.
        upgrade = version > 1 and version >= row.grouping_version
        until = now() + transition_seconds if upgrade and transition_seconds > 0 else None
        await conn.execute(update(projects).where(projects.c.id == row.id).values(
            grouping_version=version, grouping_fallback_until=until))
    return GroupingConfig(row.id, row.name, version, until)


async def list_projects(engine: AsyncEngine) -> list[Project]:
    query = (select(projects.c.id, projects.c.name, project_keys.c.public_key)
             .join(project_keys, project_keys.c.project_id == projects.c.id)
             .where(project_keys.c.active.is_(True)).order_by(projects.c.id))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    seen: dict[int, Project] = {}
    for row in rows:
        seen.setdefault(row.id, Project(row.id, row.name, row.public_key))
    return list(seen.values())


class KeyCache:
    """Maps a public key to its project id, caching answers (also misses) briefly."""

    def __init__(self, engine: AsyncEngine, ttl: float = 30.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[int | None, float]] = {}

    async def project_for(self, public_key: str) -> int | None:
        if not _KEY_RE.fullmatch(public_key):
            return None
        hit = self._cache.get(public_key)
        clock = time.monotonic()
        if hit is not None and hit[1] > clock:
            return hit[0]
        async with self.engine.connect() as conn:
            project_id = (await conn.execute(
                select(project_keys.c.project_id).where(
                    project_keys.c.public_key == public_key, project_keys.c.active.is_(True))
            )).scalar()
        if len(self._cache) > 10_000:  # keys from hostile clients must not grow memory
            self._cache.clear()
        self._cache[public_key] = (project_id, clock + self.ttl)
        return project_id


async def project_by_name(conn: AsyncConnection, name: str) -> int:
    """The id of the project called ``name`` (ConfigError naming it when there is none)."""
    project_id = (await conn.execute(select(projects.c.id)
                                     .where(projects.c.name == name.strip()))).scalar()
    if project_id is None:
        raise ConfigError(f"no project named {name.strip()!r} (see `lookout project list`)")
    return project_id


async def rename_project(engine: AsyncEngine, old: str, new: str) -> None:
    new = new.strip()
    if not new or len(new) > 200:
        raise ConfigError("project name must be 1-200 characters")
    try:
        async with engine.begin() as conn:
            project_id = await project_by_name(conn, old)
            await conn.execute(update(projects).where(projects.c.id == project_id)
                               .values(name=new))
    except IntegrityError:
        raise ConfigError(f"a project named {new!r} already exists") from None


async def delete_project_row(conn: AsyncConnection, project_id: int) -> None:
    """The project and its keys (the caller deletes its data first, in the same transaction)."""
    await conn.execute(delete(project_keys).where(project_keys.c.project_id == project_id))
    await conn.execute(delete(projects).where(projects.c.id == project_id))


@dataclass(frozen=True, slots=True)
class ProjectKey:
    id: int
    public_key: str
    active: bool
    created_at: float


async def list_keys(engine: AsyncEngine, project: str) -> list[ProjectKey]:
    async with engine.connect() as conn:
        project_id = await project_by_name(conn, project)
        rows = (await conn.execute(
            select(project_keys.c.id, project_keys.c.public_key, project_keys.c.active,
                   project_keys.c.created_at)
            .where(project_keys.c.project_id == project_id).order_by(project_keys.c.id))).all()
    return [ProjectKey(r.id, r.public_key, bool(r.active), r.created_at) for r in rows]


async def add_key(engine: AsyncEngine, project: str) -> Project:
    """A further active key: rotate by adding one, moving clients over, revoking the old."""
    key = secrets.token_hex(16)
    async with engine.begin() as conn:
        project_id = await project_by_name(conn, project)
        await conn.execute(project_keys.insert().values(
            project_id=project_id, public_key=key, active=True, created_at=now()))
    return Project(project_id, project.strip(), key)


async def revoke_key(engine: AsyncEngine, project: str, public_key: str) -> int:
    """Deactivate one key of ``project``; returns how many active keys are left.

    Ingest caches keys per process (:class:`KeyCache`), so a revoked key is
    refused within ``KeyCache.ttl`` seconds on every instance.
    """
    async with engine.begin() as conn:
        project_id = await project_by_name(conn, project)
        result = await conn.execute(
            update(project_keys).where(project_keys.c.project_id == project_id,
                                       project_keys.c.public_key == public_key.strip(),
                                       project_keys.c.active.is_(True))
            .values(active=False))
        if not result.rowcount:
            raise ConfigError(f"{project.strip()!r} has no active key {public_key.strip()!r}")
        return len((await conn.execute(select(project_keys.c.id).where(
            project_keys.c.project_id == project_id, project_keys.c.active.is_(True)))).all())


async def list_all_projects(engine: AsyncEngine) -> list[Project]:
    """Every project, also one whose keys are all revoked (``public_key`` is then "")."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(projects.c.id, projects.c.name)
                                   .order_by(projects.c.id))).all()
    return [Project(r.id, r.name, "") for r in rows]
