"""``/login``, ``/logout`` and ``/logout/everywhere``: the form, throttling, session cookie.

The cookie is HttpOnly (scripts cannot read it), SameSite=Lax (not sent on
cross-site POSTs) and Secure when Lookout is served over https
(``LOOKOUT_BASE_URL``). After login the user lands on ``next`` when it is a
local path, never on another site (no open redirect).
"""

from __future__ import annotations

import logging

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from lookout.accounts import authenticate
from lookout.db import now
from lookout.http import services
from web import throttle
from web.auth import current_session
from web.sessions import (
    ABSOLUTE_SECONDS,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    check_login_csrf,
    create_session,
    delete_session,
    delete_user_sessions,
    login_csrf_token,
    new_token,
)
from web.ui import page

# Sign-ins are security events: each names the client address (the real one behind
# LOOKOUT_TRUSTED_PROXIES), so failures can be traced and fed to fail2ban-style tools.
log = logging.getLogger("lookout.auth")


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (other hosts, schemes) means "/"."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\r\n\t") or len(target) > 2000:
        return "/"
    return target


def client_ip(request: Request) -> str:
    return (request.client.host if request.client else "") or "unknown"


def _secure(request: Request) -> bool:
    return services(request).settings.base_url.startswith("https://")


def _cookie(request: Request, key: str, value: str, max_age: int) -> Cookie:
    return Cookie(key=key, value=value, max_age=max_age, path="/", httponly=True,
                  samesite="lax", secure=_secure(request))


def _login_form(request: Request, prelogin: str, *, status: int = 200, error: str = "",
                email: str = "", headers: dict[str, str] | None = None) -> Template:
    secret = services(request).secret_key
    response = page(request, "login.html", status, error=error, email=email,
                    next=safe_next(request.query_params.get("next")),
                    login_csrf=login_csrf_token(secret, prelogin))
    response.cookies.append(_cookie(request, PRELOGIN_COOKIE, prelogin, 3600))
    if headers:
        response.headers.update(headers)
    return response


@get("/login")
async def login_page(request: Request) -> Response | Template:
    if await current_session(request) is not None:
        return Redirect(safe_next(request.query_params.get("next")), status_code=303)
    prelogin = request.cookies.get(PRELOGIN_COOKIE) or new_token()
    return _login_form(request, prelogin[:100])


@post("/login")
async def login_submit(request: Request) -> Response | Template:
    svc = services(request)
    form = await request.form()
    prelogin = request.cookies.get(PRELOGIN_COOKIE, "")[:100]
    if not check_login_csrf(svc.secret_key, prelogin, form.get("_csrf")):
        return _login_form(request, prelogin or new_token(), status=403,
                           error="The form expired or came from another site. Please try again.")
    email = str(form.get("email") or "").strip().lower()[:320]
    password = str(form.get("password") or "")[:1000]
    if "\x00" in email or "\x00" in password:  # PostgreSQL text cannot hold NUL (was a 500)
        return _login_form(request, prelogin, status=400,
                           error="Email and password cannot contain NUL characters.")
    ip = client_ip(request)
    current = now()
    reservation = await throttle.reserve(svc.engine, email, ip, current,
                                         throttle.LoginLimits.from_settings(svc.settings))
    if reservation.id is None:
        wait = reservation.retry_after or 1
        log.warning("login throttled for %r from %s (%s)", email, ip,
                    "too many failures" if reservation.reason == "failures"
                    else "too many different emails from this address")
        return _login_form(request, prelogin, status=429, email=email,
                           error=f"Too many failed attempts. Try again in {wait // 60 + 1} min.",
                           headers={"Retry-After": str(wait)})
    user_id = (await authenticate(svc.engine, email, password, svc.settings.login_hash_threads)
               if email and password else None)
    if user_id is None:
        log.warning("login failed for %r from %s", email, ip)
        return _login_form(request, prelogin, status=401, email=email,
                           error="Wrong email or password.")
    await throttle.succeeded(svc.engine, email, ip, reservation)
    log.info("login of %r from %s", email, ip)
    token = await create_session(svc.engine, user_id, ip, request.headers.get("user-agent", ""),
                                 current)
    response = Redirect(safe_next(str(form.get("next") or "")), status_code=303)
    response.cookies.append(_cookie(request, SESSION_COOKIE, token, ABSOLUTE_SECONDS))
    response.cookies.append(_cookie(request, PRELOGIN_COOKIE, "", 0))
    return response


async def _end_sessions(request: Request, everywhere: bool) -> Response | Template:
    svc = services(request)
    session = await current_session(request)
    if session is not None:
        form = await request.form()
        if not check_csrf(svc.secret_key, session.id, form.get("_csrf")):
            return page(request, "error.html", 403, title="Forbidden",
                        message="The form is missing its CSRF token. Reload the page and retry.")
        if everywhere:
            ended = await delete_user_sessions(svc.engine, session.user_id)
            log.info("%r logged out everywhere (%d sessions) from %s", session.email, ended,
                     client_ip(request))
        else:
            await delete_session(svc.engine, session.id)
    response = Redirect("/login", status_code=303)
    response.cookies.append(_cookie(request, SESSION_COOKIE, "", 0))
    return response


@post("/logout")
async def logout(request: Request) -> Response | Template:
    return await _end_sessions(request, everywhere=False)


@post("/logout/everywhere")
async def logout_everywhere(request: Request) -> Response | Template:
    """End all of the user's sessions: after a lost laptop or a password change."""
    return await _end_sessions(request, everywhere=True)


routes = [login_page, login_submit, logout, logout_everywhere]
