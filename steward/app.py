"""The steward web app: a small FastAPI application over the warehouse's `dq` tables.

FastAPI (on Starlette) because it is already in the lock through Airflow 3's API server, serves plain HTML
through Jinja2 (autoescaped) and runs under uvicorn with one command; pages are server-rendered forms with no
JavaScript, so they work in any browser and are easy to test.

Every page needs a signed-in user (auth.py) with a live server-side session (sessions.py: signing out, removing
the user or changing their password ends it; the role is read from the users file on every request); decisions
need the `steward` role. Failed sign-ins are throttled (throttle.py); only the allowed `Host` names are answered
(hosts.py). Every POST is checked against CSRF (csrf.py). Reads go through queries.py (parameterised, under
the shared warehouse lock); decisions through steward.decisions, the same functions the command line uses.

Layout: this module builds the app (configuration, middleware, error pages, sign-in, the language switch) and
includes the route modules, which are routers: steward/pages.py holds the steward pages, steward/bulletins.py
the bulletins. A new group of pages is a router of its own, using steward/web.py (`require_user`, `render`),
included here with one line. Pages are Chinese first, English on request (steward/messages.py, the one message
catalogue).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from urllib.parse import urlencode

import duckdb
from fastapi import FastAPI, Form, Request
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from foundation.config import DATA_DOCS_SITE, Settings
from foundation.config import settings as current_settings
from foundation.lock import WarehouseBusy
from steward import bulletins, csrf, datadocs, messages, pages, web
from steward.auth import authenticate, load_users
from steward.hosts import AllowedHostsMiddleware, allowed_hosts
from steward.messages import text
from steward.pages import safe_next
from steward.sessions import Sessions, SessionStore, UsersFile
from steward.throttle import SignInThrottle
from steward.web import Forbidden, NotSignedIn, language, render, require_user

log = logging.getLogger(__name__)

SESSION_COOKIE = "prefab_steward"
SESSION_MAX_AGE = 8 * 3600
SESSIONS_FILE = "steward_sessions.sqlite3"  # in PREFAB_DATA_DIR
LANGUAGE_MAX_AGE = 365 * 24 * 3600
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src 'none'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
# Data Docs responses without a policy of their own (errors): nothing but this app, no script. Their pages and
# assets set their own (steward/datadocs.py: the CDN files served from here, inline scripts on the index only).
DOCS_CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "script-src 'none'; connect-src 'none'; object-src 'none'; frame-src 'none'; frame-ancestors 'none'; "
            "form-action 'none'; base-uri 'none'")


class ConfigurationError(Exception):
    """The app cannot start as configured (no users, no secret); the message says what to set."""


def check_configuration(s: Settings) -> None:
    problems = []
    if not s.steward_secret or len(s.steward_secret) < 32:
        problems.append("set PREFAB_STEWARD_SECRET to a random string of at least 32 characters (for example "
                        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`); it signs the session "
                        "cookies")
    try:
        users = load_users(s.steward_users_path)
    except ValueError as exc:
        problems.append(str(exc))
    else:
        if not any(role == "steward" for role, _ in users.values()):
            problems.append(f"no steward user in {s.steward_users_path}: create one with `python -m steward "
                            "add-user NAME --role steward` (or point PREFAB_STEWARD_USERS_FILE at your users file)")
    if problems:
        raise ConfigurationError("the steward app is not configured:\n- " + "\n- ".join(problems))


def _report_link(url: str | None) -> str | None:
    """A Data Docs file:// link as served by this app under /gx-docs/ (None if it is not a Data Docs page)."""
    marker = "/" + DATA_DOCS_SITE.as_posix() + "/"
    if not url or not url.startswith("file://") or marker not in url:
        return None
    return "/gx-docs/" + url.split(marker, 1)[1]


def create_app(settings: Settings | None = None, clock: Callable[[], float] | None = None) -> FastAPI:
    """The app; `clock` (seconds, default the system's) drives session expiry and sign-in throttling."""
    s = settings or current_settings()
    check_configuration(s)
    app = FastAPI(title="Prefab warehouse: data stewards", docs_url=None, redoc_url=None, openapi_url=None)
    hosts = allowed_hosts(s)
    sessions = Sessions(SessionStore(s.data_dir / SESSIONS_FILE, SESSION_MAX_AGE, clock or time.time),
                        UsersFile(s.steward_users_path))
    throttle = SignInThrottle(clock or time.monotonic)
    app.state.sessions, app.state.throttle = sessions, throttle
    app.state.templates = web.templates(s)
    app.state.templates.env.globals.update(report_link=_report_link)
    app.state.settings, app.state.hosts = s, hosts

    def page(request: Request, template: str, status_code: int = 200, **context):
        return render(request, template, status_code, **context)

    def t(request: Request, key: str, **values) -> str:
        return text(language(request), key, **values)

    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        docs = request.url.path.startswith("/gx-docs/")
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    # Outermost first: security headers (on every response, the host check's 400 included), the Host check,
    # then the signed cookie (which holds only the session id and the CSRF token).
    app.add_middleware(SessionMiddleware, secret_key=s.steward_secret, session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="strict", https_only=False)
    app.add_middleware(AllowedHostsMiddleware, hosts=hosts)
    app.middleware("http")(security_headers)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn):
        if request.method == "GET":
            return RedirectResponse("/login?" + urlencode({"next": safe_next(str(request.url.path))}), 303)
        return page(request, "message.html", 401, title=t(request, "sign_in_first"),
                    message=t(request, "not_signed_in"))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        return page(request, "message.html", 403, title=t(request, "not_allowed"), message=str(exc))

    @app.exception_handler(csrf.CsrfRefused)
    async def csrf_refused(request: Request, exc: csrf.CsrfRefused):
        return page(request, "message.html", 403, title=t(request, "request_refused"), message=str(exc))

    @app.exception_handler(WarehouseBusy)
    async def busy(request: Request, exc: WarehouseBusy):
        return page(request, "message.html", 503, title=t(request, "warehouse_busy"), message=t(request, "busy_text"),
                    detail=str(exc))

    @app.exception_handler(duckdb.Error)
    async def database_error(request: Request, exc: duckdb.Error):
        if "lock" in str(exc).lower():  # DuckDB's own file lock: a writer without our lock
            return page(request, "message.html", 503, title=t(request, "warehouse_busy"),
                        message=t(request, "busy_text"))
        log.exception("warehouse error on %s", request.url.path)
        return page(request, "message.html", 500, title=t(request, "warehouse_error"),
                    message=t(request, "warehouse_error_text"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return page(request, "message.html", exc.status_code,
                    title=t(request, "not_found" if exc.status_code == 404 else "error"), message=str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return page(request, "message.html", 500, title=t(request, "error"), message=t(request, "unexpected_text"))

    # --- sign-in and the language switch ---------------------------------------------------------------------

    @app.get("/login")
    def login_form(request: Request, next: str = "/"):  # noqa: A002 - the query parameter's name
        return page(request, "login.html", next=safe_next(next), error=None)

    @app.post("/login")
    def login(request: Request, username: str = Form(""), password: str = Form(""),
              csrf_token: str = Form(""), next: str = Form("/")):  # noqa: A002
        csrf.check(request, csrf_token, hosts)
        name = username.strip()[:100]
        address = request.client.host if request.client else ""
        wait = throttle.attempt(name, address)  # counted as a failure until the password proves right
        if wait > 0:
            log.warning("sign-in of %r from %s refused: too many failed attempts", name, address)
            response = page(request, "login.html", 429, next=safe_next(next),
                            error=t(request, "too_many_attempts", minutes=max(1, math.ceil(wait / 60))))
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        user = authenticate(s.steward_users_path, name, password)
        if user is None:
            log.warning("failed sign-in of %r from %s", name, address)
            return page(request, "login.html", 401, next=safe_next(next), error=t(request, "wrong_password"))
        throttle.succeeded(name, address)
        sessions.sign_out(request.session.get("sid"))  # whatever session this browser had before
        request.session.clear()  # a fresh session (and token) for the signed-in user
        request.session["sid"] = sessions.sign_in(user)
        request.state.steward_user = user
        csrf.session_token(request)
        return RedirectResponse(safe_next(next), 303)

    @app.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")):
        require_user(request)
        csrf.check(request, csrf_token, hosts)
        sessions.sign_out(request.session.get("sid"))  # the server forgets it: a copied cookie is worthless
        request.session.clear()
        return RedirectResponse("/login", 303)

    @app.get("/lang/{lang}")
    def switch_language(lang: str, next: str = "/"):  # noqa: A002
        """The language switch: a preference cookie (not a decision, so a plain link), then back to the page."""
        response = RedirectResponse(safe_next(next), 303)
        if lang in messages.LANGUAGES:
            response.set_cookie(messages.LANGUAGE_COOKIE, lang, max_age=LANGUAGE_MAX_AGE, samesite="lax")
        return response

    # --- pages (steward/pages.py) and the Data Docs -----------------------------------------------------------

    app.include_router(pages.router)

    app.include_router(datadocs.router(s, require_user))  # /gx-docs/: the Data Docs, with their assets, offline

    app.include_router(bulletins.router)  # /bulletins: the bulletins (通报) of each publication

    return app
