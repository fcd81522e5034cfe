"""The bulletins (通报) in the steward app: `/bulletins` lists them by publication, `/bulletins/<folder>/<file>`
serves their files, both behind the sign-in. The folders are those `bulletin.render` writes in
`$PREFAB_DATA_DIR/bulletins/` (listed from their manifests); only files a manifest names are served, so a
request cannot reach anything else under the data directory.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bulletin.render import bulletins_dir, listing, made_from
from foundation.config import Settings
from steward.messages import text
from steward.web import language, render, require_user

router = APIRouter()
FOLDER = re.compile(r"^[0-9A-Za-z]{1,20}_\d{4}-\d{2}-\d{2}$")  # <unit_code>_<date>, as bulletin.render names them


def by_publication(settings: Settings) -> list[tuple[int, list[dict]]]:
    """[(publication_id, its bulletins' manifests)], newest publication first."""
    groups: dict[int, list[dict]] = {}
    for m in listing(settings):
        groups.setdefault(int(m["publication_id"]), []).append(m | {"name": m["folder"].rsplit("/", 1)[-1]})
    return sorted(groups.items(), reverse=True)


@router.get("/bulletins")
def bulletins_page(request: Request):
    require_user(request)
    return render(request, "bulletins.html", publications=by_publication(request.app.state.settings))


@router.get("/bulletins/{folder}/{name}")
def bulletin_file(request: Request, folder: str, name: str):
    require_user(request)
    root = bulletins_dir(request.app.state.settings).resolve()
    manifest = made_from(root / folder) if FOLDER.match(folder) else None
    target = (root / folder / name).resolve()
    if (manifest is None or name not in manifest.get("files", []) or not target.is_relative_to(root)
            or not target.is_file()):
        raise StarletteHTTPException(404, text(language(request), "no_bulletin_file"))
    return FileResponse(target)
