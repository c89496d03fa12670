"""``/settings/storage`` (admins): what fills the disk, per table, per project and per day.

Only shows the last snapshot of :class:`lookout.storage.StorageStats` (computed by
its periodic job), so opening the page never runs a count over the tables.
Bytes per project and per day are estimates: the day's rows times the table's
average row size.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get
from litestar.response import Template

from lookout import projects
from lookout.http import services
from lookout.storage import DAILY_TABLES, Snapshot
from web.settings_pages import require_admin
from web.ui import page


def human_bytes(n: float | None) -> str:
    """``1536`` -> ``1.5 KiB``; "–" when unknown."""
    if n is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def day_text(day: float | None) -> str:
    return datetime.fromtimestamp(day, UTC).strftime("%Y-%m-%d") if day is not None else "–"


def _views(snapshot: Snapshot, names: dict[int, str]) -> dict[str, Any]:
    daily = [t.name for t in DAILY_TABLES]
    by_project = []
    for project_id, counts in sorted(snapshot.per_project().items()):
        size = sum(snapshot.estimated_bytes(name, rows) for name, rows in counts.items())
        by_project.append({"name": names.get(project_id, f"#{project_id} (deleted)"),
                           "rows": [counts.get(n, 0) for n in daily],
                           "bytes": human_bytes(size)})
    by_day = []
    for day, counts in snapshot.per_day().items():
        size = sum(snapshot.estimated_bytes(name, rows) for name, rows in counts.items())
        by_day.append({"day": day_text(day), "rows": [counts.get(n, 0) for n in daily],
                       "bytes": human_bytes(size)})
    return {"daily": daily, "by_project": by_project, "by_day": by_day,
            "totals": [{"table": t.table, "rows": t.rows, "bytes": human_bytes(t.bytes),
                        "oldest_day": day_text(t.oldest_day)} for t in snapshot.tables],
            "file_bytes": human_bytes(snapshot.file_bytes) if snapshot.file_bytes else ""}


@get("/settings/storage")
async def storage_page(request: Request) -> Template:
    await require_admin(request)
    svc = services(request)
    snapshot = svc.storage.snapshot if svc.storage is not None else None
    context: dict[str, Any] = {"snapshot": snapshot,
                               "interval": svc.settings.storage_interval}
    if snapshot is not None:
        names = {p.id: p.name for p in await projects.list_all_projects(svc.engine)}
        context.update(_views(snapshot, names))
    return page(request, "storage.html", **context)


routes = [storage_page]
