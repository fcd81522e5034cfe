"""Cross-site request forgery defences for every POST of the steward app.

Three layers: the session cookie is `SameSite=Strict` (set in app.py); every form carries the session's
synchronizer token, compared in constant time; and the request's `Origin` (or, when a browser sends none,
its `Referer`) must be this app's own origin *and* name one of the allowed hosts (hosts.py): the `Host` a
request claims is not trusted on its own (DNS rebinding). Any failure refuses the request with 403 and a
reason (Chinese first, English after).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.requests import Request

from steward.hosts import host_name

SESSION_KEY = "csrf"
FORM_FIELD = "csrf_token"


class CsrfRefused(Exception):  # noqa: N818 - the name says what happened
    """A state-changing request that does not prove it came from this app's own page."""


def session_token(request: Request) -> str:
    """The session's synchronizer token (created on first use)."""
    token = request.session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}".lower()


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def check(request: Request, form_token: str | None, allowed_hosts: Collection[str] | None = None) -> None:
    """Raise CsrfRefused unless the request carries this session's token and comes from this origin, whose
    host is one of `allowed_hosts` (when given)."""
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    own = _own_origin(request)
    if origin is not None and origin != "null":
        sender = origin.lower().rstrip("/")
    elif referer:
        sender = _origin_of(referer)
    else:
        raise CsrfRefused("请求未说明来源 (the request says neither where it comes from (Origin) nor which page "
                          "sent it (Referer))")
    if sender != own or (allowed_hosts is not None and host_name(sender.split("://", 1)[-1]) not in allowed_hosts):
        shown = f" ({origin})" if origin is not None and origin != "null" else ""
        raise CsrfRefused(f"表单来自其他网站，已拒绝 (the form was posted from another site{shown})")
    expected = request.session.get(SESSION_KEY)
    if not expected or not form_token or not hmac.compare_digest(expected.encode(), str(form_token).encode()):
        raise CsrfRefused("表单的安全令牌缺失或与本会话不符，请刷新页面后重试 (the form's security token is missing or "
                          "does not match this session; reload the page and try again)")
