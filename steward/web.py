"""What every route module of the steward app shares: who is signed in, the page language, and rendering a
template with the catalogue (steward/messages.py), the CSRF token and times in the bureaus' zone.

Route modules (steward/pages.py, and any added later, e.g. for Data Docs or the bulletin) are FastAPI routers
that call `require_user` / `require_steward` and `render`; steward/app.py includes them. The app's settings
are `request.app.state.settings`, its allowed hosts (for csrf.check) `request.app.state.hosts`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from foundation import bilingual
from foundation.config import SUBMISSION_KINDS, Settings
from steward import csrf, messages
from steward.auth import User


class NotSignedIn(Exception):  # noqa: N818
    pass


class Forbidden(Exception):  # noqa: N818
    pass


_UNRESOLVED = object()


def current_user(request: Request) -> User | None:
    """The signed-in user as the server's session record and the users file say now (once per request)."""
    user = getattr(request.state, "steward_user", _UNRESOLVED)
    if user is _UNRESOLVED:
        sessions = request.app.state.sessions
        user = sessions.user(request.session.get("sid")) if "session" in request.scope else None
        if user is None and "session" in request.scope and request.session.get("sid"):
            request.session.clear()  # a revoked or expired session: forget it in the browser too
        request.state.steward_user = user
    return user


def require_user(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise NotSignedIn()
    return user


def require_steward(request: Request) -> User:
    user = require_user(request)
    if not user.may_decide:
        raise Forbidden(messages.text(language(request), "viewer_cannot_decide", name=user.name))
    return user


def language(request: Request) -> str:
    """zh or en: the language switch's cookie, else the browser's Accept-Language, else Chinese."""
    return messages.negotiate(request.cookies.get(messages.LANGUAGE_COOKIE), request.headers.get("accept-language"))


def translator(lang: str) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        return messages.text(lang, key, **values)
    return t


@jinja2.pass_context
def _finalize(context: jinja2.runtime.Context, value: object) -> object:
    """Every `{{ value }}` a template prints, cleaned of terminal codes and control characters (macro output,
    already escaped markup, passes unchanged); a text stored in both languages (a reason, a check's detail:
    `foundation.bilingual`) in the page's language."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        value = bilingual.part(value, context.get("lang") or messages.DEFAULT_LANGUAGE)
    return messages.plain(value)


def templates(settings: Settings) -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                             finalize=_finalize)  # autoescape: whatever a submitter wrote is shown as text
    zone = ZoneInfo(settings.timezone)
    env.filters["when"] = lambda value, seconds=False: messages.local_time(value, seconds, zone)
    env.globals.update(kinds=SUBMISSION_KINDS, quote=quote, has_message=messages.has)
    return Jinja2Templates(env=env)


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    lang = language(request)
    context.update(user=current_user(request), csrf_token=csrf.session_token(request), path=request.url.path,
                   here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
                   lang=lang, t=translator(lang))
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)
