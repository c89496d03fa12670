"""``/settings``: projects and their keys, users, read-API tokens — what the CLI manages.

Everyone signed in sees their own account; only admins see and change the
rest (the page and every form check the role, a member's post is a 403).
The work itself is the same functions the CLI calls (:mod:`lookout.accounts`,
:mod:`lookout.projects`, :func:`collector.purge.delete_project_data`), so the
two cannot drift apart. A new token's secret is shown once, in the answer to
the form that created it, and never stored.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.response import Redirect, Template

from collector.purge import delete_project_data
from lookout import accounts, project_retention, projects
from lookout.errors import ConfigError
from lookout.http import services
from lookout.settings import RETENTION_KINDS
from web.auth import checked_form, current_session
from web.ui import page

FLASHES = {
    "project_created": "Project created.", "project_renamed": "Project renamed.",
    "project_deleted": "Project deleted with all its data.", "key_added": "Key added.",
    "key_revoked": "Key revoked; ingest refuses it within 30 seconds.",
    "user_created": "User created.", "user_deleted": "User deleted; their sessions have ended.",
    "token_revoked": "Token revoked; it is refused at once.",
    "retention_set": "Retention saved; the next hourly run applies it.",
}


async def require_admin(request: Request) -> None:
    session = await current_session(request)
    if session is None or not await accounts.is_admin(services(request).engine, session.user_id):
        raise PermissionDeniedException("Only admins can manage projects, users and tokens.")


async def _projects_with_keys(request: Request) -> list[dict[str, Any]]:
    svc = services(request)
    out = []
    for project in await projects.list_all_projects(svc.engine):
        keys = await projects.list_keys(svc.engine, project.name)
        retention = await project_retention.get_retention(svc.engine, svc.settings, project.name)
        out.append({"id": project.id, "name": project.name, "retention": retention, "key_rows": [
            {"public_key": k.public_key, "active": k.active, "created_at": k.created_at,
             "dsn": projects.dsn_for(svc.settings.base_url, project.id, k.public_key)}
            for k in keys]})
    return out


async def _render(request: Request, code: int = 200, error: str = "",
                  new_token: str = "") -> Template:
    svc = services(request)
    session = await current_session(request)
    admin = session is not None and await accounts.is_admin(svc.engine, session.user_id)
    context: dict[str, Any] = {"admin": admin, "error": error, "new_token": new_token,
                               "flash": FLASHES.get(request.query_params.get("done") or "", ""),
                               "me": session.email if session else ""}
    if admin:
        context.update(projects=await _projects_with_keys(request),
                       users=await accounts.list_users(svc.engine),
                       tokens=await accounts.list_tokens(svc.engine))
    return page(request, "settings.html", code, **context)


@get("/settings")
async def settings_page(request: Request) -> Template:
    return await _render(request)


def _field(form: Any, name: str, limit: int = 400) -> str:
    return str(form.get(name) or "").strip()[:limit]


@post("/settings/projects")
async def project_action(request: Request) -> Response | Template:
    form = await checked_form(request)
    await require_admin(request)
    engine = services(request).engine
    action, name = _field(form, "action"), _field(form, "project")
    try:
        if action == "create":
            await projects.create_project(engine, name)
            done = "project_created"
        elif action == "rename":
            await projects.rename_project(engine, name, _field(form, "new_name"))
            done = "project_renamed"
        elif action == "delete":
            if _field(form, "confirm") != name:
                raise ConfigError(f"Type the project's name ({name}) to confirm deleting it.")
            async with engine.begin() as conn:
                project_id = await projects.project_by_name(conn, name)
                await delete_project_data(conn, project_id)
                await projects.delete_project_row(conn, project_id)
            done = "project_deleted"
        elif action == "add_key":
            await projects.add_key(engine, name)
            done = "key_added"
        elif action == "retention":
            changes = {kind: project_retention.parse_days(kind, _field(form, kind, 40))
                       for kind in RETENTION_KINDS}
            await project_retention.set_retention(engine, name, changes)
            done = "retention_set"
        elif action == "revoke_key":
            await projects.revoke_key(engine, name, _field(form, "key"))
            done = "key_revoked"
        else:
            raise ConfigError(f"unknown action {action!r}")
    except ConfigError as exc:
        return await _render(request, 400, str(exc))
    return Redirect(f"/settings?done={done}", status_code=303)


@post("/settings/users")
async def user_action(request: Request) -> Response | Template:
    form = await checked_form(request)
    await require_admin(request)
    engine = services(request).engine
    action, email = _field(form, "action"), _field(form, "email")
    try:
        if action == "create":
            await accounts.create_user(engine, email, str(form.get("password") or ""),
                                       admin=form.get("admin") == "on")
            done = "user_created"
        elif action == "delete":
            await accounts.delete_user(engine, email)
            done = "user_deleted"
        else:
            raise ConfigError(f"unknown action {action!r}")
    except ConfigError as exc:
        return await _render(request, 400, str(exc))
    return Redirect(f"/settings?done={done}", status_code=303)


@post("/settings/tokens")
async def token_action(request: Request) -> Response | Template:
    form = await checked_form(request)
    await require_admin(request)
    engine = services(request).engine
    action = _field(form, "action")
    try:
        if action == "create":
            token = await accounts.create_token(engine, _field(form, "name"))
            return await _render(request, 201, new_token=token)
        if action == "revoke":
            await accounts.revoke_token(engine, _field(form, "token_id"))
            return Redirect("/settings?done=token_revoked", status_code=303)
        raise ConfigError(f"unknown action {action!r}")
    except ConfigError as exc:
        return await _render(request, 400, str(exc))


routes = [settings_page, project_action, user_action, token_action]
