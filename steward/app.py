"""The steward web app: a small FastAPI application over the warehouse's `dq` tables.

FastAPI (on Starlette) because it is already in the lock through Airflow 3's API server, serves plain HTML
through Jinja2 (autoescaped) and runs under uvicorn with one command; pages are server-rendered forms with no
JavaScript, so they work in any browser and are easy to test.

Every page needs a signed-in user (auth.py) with a live server-side session (sessions.py: signing out, removing
the user or changing their password ends it; the role is read from the users file on every request); decisions
need the `steward` role. Failed sign-ins are throttled (throttle.py); only the allowed `Host` names are answered
(hosts.py). Every POST is checked against CSRF (csrf.py). Reads go through queries.py (parameterised, under
the shared warehouse lock); decisions through steward.decisions, the same functions the command line uses.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

import duckdb
import jinja2
from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from foundation.config import DATA_DOCS_SITE, SUBMISSION_KINDS, Settings
from foundation.config import settings as current_settings
from foundation.lock import WarehouseBusy
from steward import bulletins, csrf, decisions, export, queries
from steward.auth import User, authenticate, load_users
from steward.hosts import AllowedHostsMiddleware, allowed_hosts
from steward.sessions import Sessions, SessionStore, UsersFile
from steward.throttle import SignInThrottle, retry_text

log = logging.getLogger(__name__)

SESSION_COOKIE = "prefab_steward"
SESSION_MAX_AGE = 8 * 3600
SESSIONS_FILE = "steward_sessions.sqlite3"  # in PREFAB_DATA_DIR
BUSY_TEXT = ("夜间运行正在写入数据仓库，请一分钟后重试 "
             "(The nightly run is writing the warehouse; try again in a minute.)")
WRONG_PASSWORD_TEXT = "用户名或密码错误 (Unknown user or wrong password.)"
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src 'none'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
# The Data Docs pages (static HTML from Great Expectations) load jQuery, Bootstrap and Vega from CDNs, run
# inline scripts that need jQuery, and show a remote logo: offline none of that loads, and the pages read as
# plain HTML with their own inline styles. So: their styles, fonts and images from this app only, no script
# at all (the reports show what counties wrote), no remote origin, no frames, no forms.
DOCS_CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "script-src 'none'; connect-src 'none'; object-src 'none'; frame-src 'none'; frame-ancestors 'none'; "
            "form-action 'none'; base-uri 'none'")
DECISION_LABELS = {"waive": "waive", "reject": "reject", "request_resubmission": "request resubmission",
                   "reopen": "reopen"}


class NotSignedIn(Exception):  # noqa: N818
    pass


class Forbidden(Exception):  # noqa: N818
    pass


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


_UNRESOLVED = object()


def _current_user(request: Request) -> User | None:
    """The signed-in user as the server's session record and the users file say now (once per request)."""
    user = getattr(request.state, "steward_user", _UNRESOLVED)
    if user is _UNRESOLVED:
        sessions: Sessions = request.app.state.sessions
        user = sessions.user(request.session.get("sid")) if "session" in request.scope else None
        if user is None and "session" in request.scope and request.session.get("sid"):
            request.session.clear()  # a revoked or expired session: forget it in the browser too
        request.state.steward_user = user
    return user


def _user(request: Request) -> User:
    user = _current_user(request)
    if user is None:
        raise NotSignedIn()
    return user


def _steward(request: Request) -> User:
    user = _user(request)
    if not user.may_decide:
        raise Forbidden(f"{user.name} 只能查看，不能做决定：做决定需要 steward 角色 "
                        f"({user.name} may look but not decide: decisions need the steward role)")
    return user


def _safe_next(target: str | None) -> str:
    """A local path to go back to after a form (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


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
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
    templates = Jinja2Templates(env=env)  # autoescape: whatever a submitter wrote is shown as text
    templates.env.globals.update(report_link=_report_link, decision_labels=DECISION_LABELS,
                                 kinds=SUBMISSION_KINDS, statuses=queries.LEDGER_STATUSES, quote=quote)

    def page(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
        context.update(user=_current_user(request), csrf_token=csrf.session_token(request),
                       path=request.url.path,
                       here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        return templates.TemplateResponse(request, template, context, status_code=status_code)

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
            return RedirectResponse("/login?" + urlencode({"next": _safe_next(str(request.url.path))}), 303)
        return page(request, "message.html", 401, title="请先登录 (Sign in first)",
                    message="您尚未登录，或会话已结束，请登录后重试 (You are not signed in, or your session has "
                            "ended. Sign in and try again.)")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        return page(request, "message.html", 403, title="Not allowed", message=str(exc))

    @app.exception_handler(csrf.CsrfRefused)
    async def csrf_refused(request: Request, exc: csrf.CsrfRefused):
        return page(request, "message.html", 403, title="Request refused", message=str(exc))

    @app.exception_handler(WarehouseBusy)
    async def busy(request: Request, exc: WarehouseBusy):
        return page(request, "message.html", 503, title="Warehouse busy", message=BUSY_TEXT, detail=str(exc))

    @app.exception_handler(duckdb.Error)
    async def database_error(request: Request, exc: duckdb.Error):
        if "lock" in str(exc).lower():  # DuckDB's own file lock: a writer without our lock
            return page(request, "message.html", 503, title="Warehouse busy", message=BUSY_TEXT)
        log.exception("warehouse error on %s", request.url.path)
        return page(request, "message.html", 500, title="Warehouse error",
                    message="The warehouse could not answer this page; the error is in the app's log.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return page(request, "message.html", exc.status_code, title="Not found" if exc.status_code == 404 else
                    "Error", message=str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return page(request, "message.html", 500, title="Error",
                    message="Something went wrong; the error is in the app's log.")

    # --- sign-in ------------------------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/"):  # noqa: A002 - the query parameter's name
        return page(request, "login.html", next=_safe_next(next), error=None)

    @app.post("/login")
    def login(request: Request, username: str = Form(""), password: str = Form(""),
              csrf_token: str = Form(""), next: str = Form("/")):  # noqa: A002
        csrf.check(request, csrf_token, hosts)
        name = username.strip()[:100]
        address = request.client.host if request.client else ""
        wait = throttle.attempt(name, address)  # counted as a failure until the password proves right
        if wait > 0:
            log.warning("sign-in of %r from %s refused: too many failed attempts", name, address)
            response = page(request, "login.html", 429, next=_safe_next(next), error=retry_text(wait))
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        user = authenticate(s.steward_users_path, name, password)
        if user is None:
            log.warning("failed sign-in of %r from %s", name, address)
            return page(request, "login.html", 401, next=_safe_next(next), error=WRONG_PASSWORD_TEXT)
        throttle.succeeded(name, address)
        sessions.sign_out(request.session.get("sid"))  # whatever session this browser had before
        request.session.clear()  # a fresh session (and token) for the signed-in user
        request.session["sid"] = sessions.sign_in(user)
        request.state.steward_user = user
        csrf.session_token(request)
        return RedirectResponse(_safe_next(next), 303)

    @app.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")):
        _user(request)
        csrf.check(request, csrf_token, hosts)
        sessions.sign_out(request.session.get("sid"))  # the server forgets it: a copied cookie is worthless
        request.session.clear()
        return RedirectResponse("/login", 303)

    # --- pages ----------------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request):
        _user(request)
        with queries.reading(s) as con:
            runs = queries.latest_runs(con)
            failures = decisions.open_failures(s, con)
            requests = decisions.resubmission_requests(s, con)
        return page(request, "overview.html", runs=runs, failures=failures, requests=requests)

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str):
        _user(request)
        with queries.reading(s) as con:
            run = queries.run_detail(con, run_id)
            failures = decisions.open_failures(s, con)
        if run is None:
            raise StarletteHTTPException(404, f"no run {run_id!r} is recorded")
        waivable = {f["check_name"]: f for f in failures["failures"]} if failures["run_id"] == run_id else {}
        return page(request, "run.html", run=run, waivable=waivable)

    @app.get("/ledger", response_class=HTMLResponse)
    def ledger_page(request: Request, unit: str = "", period: str = "", status: str = "", kind: str = ""):
        _user(request)
        unit, period, status, kind = unit.strip(), period.strip(), status.strip(), kind.strip()
        with queries.reading(s) as con:
            rows = queries.ledger(con, unit or None, period or None, status or None, kind or None)
        return page(request, "ledger.html", rows=rows, limit=queries.PAGE_ROWS,
                    filters={"unit": unit, "period": period, "status": status, "kind": kind})

    @app.get("/submissions/{submission_id}", response_class=HTMLResponse)
    def submission_page(request: Request, submission_id: str):
        _user(request)
        with queries.reading(s) as con:
            sub = queries.submission(con, submission_id)
            rows = queries.quarantined_rows(con, submission_id) if sub else []
            history = queries.reviews_of_submission(con, submission_id) if sub else []
            outstanding = [r for r in decisions.resubmission_requests(s, con) if r["submission_id"] == submission_id]
        if sub is None:
            raise StarletteHTTPException(404, f"no submission {submission_id!r} in the ledger")
        return page(request, "submission.html", sub=sub, rows=rows, history=history,
                    resubmission_requested=bool(outstanding))

    @app.get("/submissions/{submission_id}/quarantine.xlsx")
    def quarantine_export(request: Request, submission_id: str):
        _user(request)
        with queries.reading(s) as con:
            sub = queries.submission(con, submission_id)
            rows = queries.quarantined_rows(con, submission_id) if sub else []
        if sub is None:
            raise StarletteHTTPException(404, f"no submission {submission_id!r} in the ledger")
        body = export.quarantine_workbook(sub["kind"], rows)
        name = f"{sub['unit_code'] or 'unit'}_{sub['period'] or 'period'}_待更正.xlsx"
        return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f"attachment; filename=\"quarantine.xlsx\"; "
                                                        f"filename*=UTF-8''{quote(name)}"})

    @app.get("/missing", response_class=HTMLResponse)
    def missing_page(request: Request, year: int | None = None):
        _user(request)
        with queries.reading(s) as con:
            calendar = queries.missing_submissions(con, year)
        return page(request, "missing.html", calendar=calendar)

    @app.get("/history", response_class=HTMLResponse)
    def history_page(request: Request):
        _user(request)
        with queries.reading(s) as con:
            rows = decisions.history(s, con=con)
        return page(request, "history.html", rows=rows)

    @app.get("/gx-docs/{path:path}")
    def gx_docs(request: Request, path: str):
        _user(request)
        site = s.gx_docs_dir.resolve()
        target = (site / (path or "index.html")).resolve()
        if not target.is_relative_to(site) or not target.is_file():
            raise StarletteHTTPException(404, "no such Data Docs page (the site is built by the nightly run)")
        return FileResponse(target)

    bulletins.register(app, s, page, _user)  # /bulletins: the bulletins of each publication

    # --- decisions ------------------------------------------------------------------------------------------

    @app.post("/decisions")
    def decide(request: Request, target_type: str = Form(""), target_id: str = Form(""), decision: str = Form(""),
               note: str = Form(""), csrf_token: str = Form(""), next: str = Form("/")):  # noqa: A002
        _user(request)
        csrf.check(request, csrf_token, hosts)
        user = _steward(request)
        back = _safe_next(next)
        try:
            decisions.record_review(s, user.name, target_type, target_id, decision, note)
        except ValueError as exc:
            return page(request, "message.html", 400, title="Decision not recorded", message=str(exc), back=back)
        return RedirectResponse(back, 303)

    app.state.settings = s
    return app
