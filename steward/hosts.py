"""Which `Host` the steward app answers: only the names it is meant to be reached by (DNS rebinding defence).

A page on another site whose name is made to resolve to 127.0.0.1 (DNS rebinding) reaches the app with its own
name in `Host` and in `Origin`, so comparing the two proves nothing. The app therefore answers only requests
whose `Host` names one of `PREFAB_STEWARD_ALLOWED_HOSTS` (default `127.0.0.1,localhost`) or the address it
listens on (`steward_host`); anything else gets 400 before any route, session or form is looked at. The CSRF
check (csrf.py) compares a POST's `Origin` against the same list.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from foundation.config import Settings

WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})  # addresses to listen on, not names a browser uses
REFUSED_TEXT = ("不接受此主机名的请求：请使用配置的地址打开本应用 (Host not allowed: open the app at its configured "
                "address; operators can add names to PREFAB_STEWARD_ALLOWED_HOSTS)")


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The host names (lower case, no port) the app answers."""
    names = {h.strip().lower().strip("[]") for h in (*settings.steward_allowed_hosts, settings.steward_host or "")}
    return frozenset(names - WILDCARD_BINDS)


def host_name(value: str) -> str:
    """The host name of a `Host` header or an origin's netloc (`127.0.0.1:8765` -> `127.0.0.1`), lower case;
    empty if it does not parse."""
    try:
        return urlsplit("//" + value).hostname or ""
    except ValueError:
        return ""


class AllowedHostsMiddleware:
    """Answer 400 to any HTTP request whose `Host` is not one of `hosts`."""

    def __init__(self, app: ASGIApp, hosts: Collection[str]):
        self.app = app
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # (the app has no websocket routes)
            host = Headers(scope=scope).get("host", "")
            if host_name(host) not in self.hosts:
                await PlainTextResponse(REFUSED_TEXT, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)
