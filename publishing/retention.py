"""The last publications of `reporting.duckdb`, a damaged published file set aside, and rolling back.

Every publication is kept as `<data>/publications/reporting-<publication_id>.duckdb`, a copy of the file
swapped into place, made before the swap, and the oldest beyond `Settings.publications_kept` are removed after
each swap. A copy, not a hard link: a link shares the live file's bytes, so whatever damages the live file in
place (truncated, overwritten) would damage the kept one too.

A published file that cannot be opened (truncated by a full disk, overwritten by mistake) used to fail every
later publication, which read it first. It is now set aside (renamed `reporting.duckdb.damaged-<time>`,
logged) and the publication goes on as if nothing were published; the collapse checks compare the candidate
with the newest kept publication that still opens instead (`latest_readable`).

A rollback (`publishing.rollback`, `python -m publishing rollback`) puts a kept publication back. The content
it replaced is remembered in `publications/rolled_back.json`: the next nightly run would otherwise publish the
same candidate again at once; it does not publish a candidate identical to a rolled-back publication
(`rolled_back`), so the rollback holds until the data or a model changes. Deleting an entry from that file
allows it again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from foundation.config import Settings
from foundation.db import DUCKDB_CONFIG

log = logging.getLogger(__name__)

KEPT_NAME = re.compile(r"^reporting-(\d+)\.duckdb$")
ROLLED_BACK = "rolled_back.json"


def kept_path(settings: Settings, publication_id: int) -> Path:
    return settings.publications_dir / f"reporting-{publication_id:06d}.duckdb"


def kept(settings: Settings) -> list[tuple[int, Path]]:
    """The kept publications, oldest first: (publication_id, file)."""
    if not settings.publications_dir.exists():
        return []
    found = [(int(m.group(1)), p) for p in settings.publications_dir.iterdir() if (m := KEPT_NAME.match(p.name))]
    return sorted(found)


def copy_atomically(source: Path, target: Path) -> None:
    """`target` becomes a copy of `source`, atomically (written apart, flushed, renamed)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(source, tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def keep(settings: Settings, published_file: Path, publication_id: int) -> Path:
    """Keep the closed file about to be swapped in as publication `publication_id`."""
    settings.publications_dir.mkdir(parents=True, exist_ok=True)
    target = kept_path(settings, publication_id)
    copy_atomically(published_file, target)
    return target


def prune(settings: Settings) -> list[Path]:
    """Remove the oldest kept publications beyond `publications_kept` (at least one is always kept)."""
    keep_n = max(settings.publications_kept, 1)
    removed = [p for _, p in kept(settings)[:-keep_n]]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def publication_facts(path: Path) -> tuple[int | None, str | None]:
    """(the newest publication id, its content checksum) recorded inside a published file; raises
    `duckdb.Error` when the file cannot be read."""
    con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
    try:
        row = con.execute("select publication_id, content_checksum from main.publication "
                          "order by publication_id desc limit 1").fetchone()
    finally:
        con.close()
    return (row[0], row[1]) if row else (None, None)


def damaged(path: Path) -> bool:
    """Whether a published file exists and cannot be read (every error but a lock conflict counts)."""
    if not path.exists():
        return False
    try:
        publication_facts(path)
    except duckdb.Error as exc:
        return "lock" not in str(exc).lower()
    return False


def set_aside(path: Path, why: str) -> Path:
    """Rename a damaged published file (and any WAL beside it) out of the way; returns its new name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    os.replace(path, aside)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        os.replace(wal, aside.with_name(aside.name + ".wal"))
    log.error("已发布文件损坏，已移至 %s: the published file %s could not be read (%s); it was set aside and the "
              "next publication replaces it", aside, path, why)
    return aside


def latest_readable(settings: Settings) -> Path | None:
    """The newest kept publication that opens (what analysts had before the live file was damaged)."""
    for _, path in reversed(kept(settings)):
        if not damaged(path):
            return path
    return None


def _rolled_back_path(settings: Settings) -> Path:
    return settings.publications_dir / ROLLED_BACK


def rolled_back_entries(settings: Settings) -> list[dict]:
    path = _rolled_back_path(settings)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def rolled_back(settings: Settings, checksum: str) -> dict | None:
    """The rollback entry of a publication whose content is `checksum`, if it was rolled back."""
    return next((e for e in rolled_back_entries(settings) if e["content_checksum"] == checksum), None)


def remember_rolled_back(settings: Settings, publication_id: int | None, checksum: str) -> None:
    """Record that the content `checksum` (publication `publication_id`) was rolled back (`rolled_back`)."""
    entries = rolled_back_entries(settings)
    entries.append({"publication_id": publication_id, "content_checksum": checksum,
                    "rolled_back_at": datetime.now(UTC).isoformat()})
    path = _rolled_back_path(settings)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
