"""Writing a bulletin: `write(settings, unit_code, as_of)` puts `bulletin.html`, `bulletin.pdf`, the charts
(`<name>.svg`, `<name>.png`, `<name>.csv`) and `bulletin.json` (what it was made from) in
`$PREFAB_DATA_DIR/bulletins/<unit_code>_<date>/`.

Idempotent per publication: the same publication gives the same bytes (the PDF's dates and identifier are
derived from the publication, not the clock), and a folder already made from the newest publication is not
written again. A folder is built beside its final place and renamed into it, so a reader (the steward app)
never sees half a bulletin.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jinja2

from bulletin import charts as chart_mod
from bulletin.data import BulletinData, bulletin_units, load
from bulletin.text import sections
from foundation.config import Settings

TEMPLATES = Path(__file__).parent / "templates"
MANIFEST = "bulletin.json"


@dataclass(frozen=True)
class Written:
    folder: Path
    unit_code: str
    as_of: date
    publication_id: int
    written: bool  # False: the folder was already made from this publication


def bulletins_dir(settings: Settings) -> Path:
    return settings.data_dir / "bulletins"


def folder_of(settings: Settings, unit_code: str, as_of: date) -> Path:
    return bulletins_dir(settings) / f"{unit_code}_{as_of.isoformat()}"


def html_of(d: BulletinData, svgs: dict[str, str]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    created = d.publication.published_at.replace(microsecond=0).isoformat() + "Z"
    return env.get_template("bulletin.html").render(d=d, s=sections(d), svgs=svgs, created=created)


def pdf_of(html: str, identifier: str) -> bytes:
    from weasyprint import HTML  # about 1 s to import (pango, fonts): only where a PDF is made

    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf(
        pdf_identifier=hashlib.sha256(identifier.encode()).hexdigest()[:32].encode())


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    if rows:
        w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return out.getvalue()


def made_from(folder: Path) -> dict | None:
    """The manifest of a bulletin folder (None if there is none, or it is unreadable)."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write(settings: Settings, unit_code: str, as_of: date | None = None, force: bool = False) -> Written:
    d = load(settings, unit_code, as_of)
    folder = folder_of(settings, unit_code, d.as_of)
    old = made_from(folder)
    if not force and old and old.get("publication_id") == d.publication.publication_id and all(
            (folder / f).is_file() for f in old.get("files", [])):
        return Written(folder, unit_code, d.as_of, d.publication.publication_id, False)
    files: dict[str, bytes] = {}
    svgs = {}
    for name, (chart, rows) in chart_mod.charts(d).items():
        svgs[name], files[f"{name}.png"] = chart_mod.images(chart)
        files[f"{name}.svg"] = svgs[name].encode()
        files[f"{name}.csv"] = _csv(rows).encode("utf-8")
    html = html_of(d, svgs)
    files["bulletin.html"] = html.encode("utf-8")
    files["bulletin.pdf"] = pdf_of(html, f"{unit_code}|{d.as_of}|{d.publication.publication_id}")
    manifest = {"unit_code": unit_code, "unit_name_zh": d.unit.unit_name_zh, "as_of": d.as_of.isoformat(),
                "publication_id": d.publication.publication_id, "published_at": d.publication.published_at.isoformat(),
                "data_as_of": d.publication.data_as_of.isoformat(), "files": sorted([*files, MANIFEST])}
    files[MANIFEST] = (json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    building = folder.with_name(f".{folder.name}.{os.getpid()}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for name, data in files.items():
        (building / name).write_bytes(data)
    retired = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    if folder.exists():
        folder.rename(retired)
    building.rename(folder)
    shutil.rmtree(retired, ignore_errors=True)
    return Written(folder, unit_code, d.as_of, d.publication.publication_id, True)


# A bulletin takes about 2 s once its process has drawn one (the first takes about 6 s: WeasyPrint, the fonts,
# vl-convert), on one core: with this many bulletins or more they are shared among processes, one per core.
PARALLEL_FROM = 6


def write_publication(settings: Settings) -> list[Written]:
    """The bulletins of every province and city for the newest publication, as of its `data_as_of` (what the
    `prefab_bulletin` DAG runs): those already made from it are left as they are. Written by one process per
    core when there are many (in the order of `bulletin_units` whatever their process)."""
    as_of, codes = bulletin_units(settings)
    workers = min(len(os.sched_getaffinity(0)), len(codes) // PARALLEL_FROM + 1)
    # A daemonic process (a Celery prefork child) may not start processes of its own: it writes them itself.
    if workers < 2 or multiprocessing.current_process().daemon:
        return [write(settings, code, as_of) for code in codes]
    # spawned, not forked: the task's process may hold threads (a forked child inherits their locks taken)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(write, [settings] * len(codes), codes, [as_of] * len(codes)))


def listing(settings: Settings) -> list[dict]:
    """Every bulletin folder's manifest (with `folder`), newest publication first, then by unit."""
    root = bulletins_dir(settings)
    out = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_dir() and not folder.name.startswith(".") and (m := made_from(folder)):
            out.append(m | {"folder": str(folder)})
    return sorted(out, key=lambda m: (-int(m.get("publication_id", 0)), m.get("as_of", ""), m.get("unit_code", "")))
