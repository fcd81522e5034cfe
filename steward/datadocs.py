"""The Great Expectations Data Docs, served by the steward app behind its sign-in, without the internet.

GX 1.24 writes static pages that load Bootstrap, bootstrap-table, jQuery, Popper, Font Awesome, a date picker,
a dark theme and Vega from six CDNs and show a logo from S3: on the servers this runs on (no internet) they
rendered blank (`../shared/notes/stack-facts.md`; the index's table is drawn by bootstrap-table from data in an
inline script). So each HTML page is rewritten as it is served: every CDN file GX references is replaced by the
same file from the npm packages pinned in `steward/datadocs_assets/package-lock.json` (installed by
`make datadocs-assets` into `.tools/datadocs/`, never fetched at run time), served here under
`/gx-docs/_assets/`; the S3 logos by the copies GX writes into the site's own `static/images/`; any other
address outside (links to GX's website and newsletter) is taken out. A served page names no other host.

Vega is not vendored: it draws charts of profiling runs, which this project does not make (no page of the
demo's site calls `vegaEmbed`); its script tags are dropped.

Scripts: the vendored libraries run (Bootstrap's collapse, bootstrap-table on tables from their HTML). Inline
scripts are allowed by their hash on the index page only, whose data is this project's own suite, run and
batch names; validation pages show what counties wrote, so no inline script runs on them (their "show
failed only" toggle does nothing; everything is shown). GX's walkthrough pop-up and its cloud advert are not
allowed on any page.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from foundation.config import PROJECT_ROOT, Settings
from steward.messages import text
from steward.web import language

log = logging.getLogger(__name__)

ASSETS_DIR = PROJECT_ROOT / ".tools" / "datadocs" / "node_modules"  # `make datadocs-assets`
ASSETS_URL = "/gx-docs/_assets/"
SITE_URL = "/gx-docs/"

# Every CDN file GX 1.24's page templates reference (render/view/templates/*.j2) -> the same release's file
# in the pinned npm package. Popper: 1.14.7, the oldest release Bootstrap 4.3.1 declares it works with (GX
# names 1.12.9); bootstrap-table's filter-control CSS comes from 1.19.1, as its scripts do (GX names 1.19.0).
CDN_ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
}
# The logos GX shows from S3 -> the copies it writes into every site (static/images/).
GX_IMAGES = {"logo-long.png": "static/images/logo-long.png", "full_logo_dark.png": "static/images/logo-long.png"}
GX_IMAGES_HOST = "great-expectations-web-assets.s3.us-east-2.amazonaws.com"

# What may be fetched under /gx-docs/_assets/: files of these packages with these suffixes (the CSS, scripts
# and the fonts the CSS names), nothing else of node_modules.
ASSET_PACKAGES = frozenset({"bootstrap", "bootstrap-table", "bootstrap-datepicker", "@forevolve/bootstrap-dark",
                            "@fortawesome/fontawesome-free", "jquery", "popper.js"})
ASSET_TYPES = {".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2", ".woff": "font/woff",
               ".ttf": "font/ttf", ".eot": "application/vnd.ms-fontobject", ".svg": "image/svg+xml",
               ".png": "image/png"}

# A URL outside as an attribute's value or in a CSS url(): what a browser fetches or follows. Text is left as it
# is (a county may have written an address into a cell; the report shows what they wrote).
_ATTRIBUTE_URL = re.compile(r"""(\s(?:src|href)=)(["'])(https?://[^"']+)\2""", re.I)
# The site's own static folder by relative path: GX 1.24 counts one folder too few on validation pages (their
# favicon, `../../../static/`, misses the site); from the site's root it is the same file from every page.
_SITE_STATIC = re.compile(r"""(\s(?:src|href)=["'])(?:\./|(?:\.\./)+)static/""")
_CSS_URL = re.compile(r"""url\((["']?)(https?://[^"')]+)\1\)""", re.I)
_VEGA_TAG = re.compile(r"""<script[^>]*\ssrc=["']https?://[^"']*/vega[^"']*["'][^>]*>\s*</script>\s*""")
_LOADING_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.I)
_SRI = re.compile(r"""\s(?:integrity|crossorigin)=["'][^"']*["']""")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_UNWANTED_SCRIPTS = ("ge-walkthrough-modal", "ge-cta-footer")  # GX's first-visit pop-up and cloud advert

# The CSP of a Data Docs page (the app's own pages have theirs, steward/app.py): this app only, no frames, no
# forms, no connections; `{scripts}` is the inline scripts allowed by hash (the index page's).
DOCS_CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "script-src 'self'{scripts}; connect-src 'none'; object-src 'none'; frame-src 'none'; "
            "frame-ancestors 'none'; form-action 'none'; base-uri 'none'")


def _local(url: str) -> str:
    """Where this app serves what `url` names; '#' for an address outside with no local copy (a link)."""
    plain = url.split("?", 1)[0].split("#", 1)[0]
    if plain in CDN_ASSETS:
        return ASSETS_URL + CDN_ASSETS[plain]
    host, _, name = plain.split("://", 1)[1].partition("/")
    if host == GX_IMAGES_HOST and name in GX_IMAGES:
        return SITE_URL + GX_IMAGES[name]
    return "#"


def rewrite(html: str) -> str:
    """A Data Docs page as this app serves it: its CDN files and logos from here, no other address outside."""
    html = _VEGA_TAG.sub("", html)
    # The CDNs' integrity hashes go (ours are pinned by the npm lock file), from script and link tags only.
    html = _LOADING_TAG.sub(lambda m: _SRI.sub("", m.group(0)), html)
    html = _SITE_STATIC.sub(lambda m: f"{m.group(1)}{SITE_URL}static/", html)
    html = _ATTRIBUTE_URL.sub(lambda m: f"{m.group(1)}{m.group(2)}{_local(m.group(3))}{m.group(2)}", html)
    return _CSS_URL.sub(lambda m: f"url({m.group(1)}{_local(m.group(2))}{m.group(1)})", html)


def script_hashes(html: str) -> list[str]:
    """CSP sources for the page's inline scripts, but GX's pop-up and advert."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
            for s in _INLINE_SCRIPT.findall(html) if s.strip() and not any(u in s for u in _UNWANTED_SCRIPTS)]


def page_csp(html: str, is_index: bool) -> str:
    hashes = script_hashes(html) if is_index else []
    return DOCS_CSP.format(scripts="".join(" " + h for h in hashes))


def assets_installed(assets_dir: Path = ASSETS_DIR) -> bool:
    return all((assets_dir / p).is_file() for p in CDN_ASSETS.values())


def _asset(assets_dir: Path, path: str) -> Path | None:
    root = assets_dir.resolve()
    target = (root / path).resolve()
    parts = target.relative_to(root).parts if target.is_relative_to(root) else ()
    package = "/".join(parts[:2]) if parts and parts[0].startswith("@") else (parts[0] if parts else "")
    if package not in ASSET_PACKAGES or target.suffix not in ASSET_TYPES or not target.is_file():
        return None
    return target


def router(settings: Settings, require_user: Callable[[Request], object], assets_dir: Path = ASSETS_DIR
           ) -> APIRouter:
    """/gx-docs/: the site (pages rewritten) and /gx-docs/_assets/: the vendored files; every request needs a
    signed-in user (`require_user` raises otherwise)."""
    routes = APIRouter()
    if not assets_installed(assets_dir):
        log.warning("the Data Docs assets are not installed in %s: run `make datadocs-assets` (the pages are "
                    "served without their styles until then)", assets_dir)

    @routes.get(ASSETS_URL + "{path:path}")
    def docs_asset(request: Request, path: str):
        require_user(request)
        target = _asset(assets_dir, path)
        if target is None:
            raise StarletteHTTPException(404, text(language(request), "no_docs_asset"))
        response = FileResponse(target, media_type=ASSET_TYPES[target.suffix])
        response.headers["Cache-Control"] = "private, max-age=86400"  # pinned files: the same until a new lock
        return response

    @routes.get(SITE_URL + "{path:path}")
    def docs_page(request: Request, path: str):
        require_user(request)
        site = settings.gx_docs_dir.resolve()
        target = (site / (path or "index.html")).resolve()
        if not target.is_relative_to(site) or not target.is_file():
            raise StarletteHTTPException(404, text(language(request), "no_docs_page"))
        if target.suffix == ".css":  # GX's own style sheet names its logo on S3 too
            return Response(rewrite(target.read_text(encoding="utf-8")), media_type="text/css")
        if target.suffix != ".html":
            return FileResponse(target)
        html = rewrite(target.read_text(encoding="utf-8"))
        return HTMLResponse(html, headers={"Content-Security-Policy": page_csp(html, target == site / "index.html")})

    return routes
