"""The bulletins (通报) in the steward app: `/bulletins` lists them by publication, `/bulletins/<folder>/<file>`
serves their files, both behind the sign-in. The folders are those `bulletin.render` writes in
`$PREFAB_DATA_DIR/bulletins/` (listed from their manifests); only files a manifest names are served.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bulletin.render import bulletins_dir, listing, made_from
from foundation.config import Settings

FOLDER = re.compile(r"^[0-9A-Za-z]{1,20}_\d{4}-\d{2}-\d{2}$")
NOT_FOUND = "没有这份通报文件（通报由 prefab_bulletin 在每次发布后生成）"


def by_publication(settings: Settings) -> list[tuple[int, list[dict]]]:
    """[(publication_id, its bulletins' manifests)], newest publication first."""
    groups: dict[int, list[dict]] = {}
    for m in listing(settings):
        groups.setdefault(int(m["publication_id"]), []).append(m | {"name": m["folder"].rsplit("/", 1)[-1]})
    return sorted(groups.items(), reverse=True)


def register(app: FastAPI, settings: Settings, page: Callable[..., HTMLResponse],
             signed_in: Callable[[Request], object]) -> None:
    """Add the two routes to `app`; `page` renders a template, `signed_in` refuses a request without a user."""

    @app.get("/bulletins", response_class=HTMLResponse)
    def bulletins_page(request: Request):
        signed_in(request)
        return page(request, "bulletins.html", title="通报", publications=by_publication(settings))

    @app.get("/bulletins/{folder}/{name}")
    def bulletin_file(request: Request, folder: str, name: str):
        signed_in(request)
        root = bulletins_dir(settings).resolve()
        manifest = made_from(root / folder) if FOLDER.match(folder) else None
        if manifest is None or name not in manifest.get("files", []):
            raise StarletteHTTPException(404, NOT_FOUND)
        target = (root / folder / name).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise StarletteHTTPException(404, NOT_FOUND)
        return FileResponse(target)
