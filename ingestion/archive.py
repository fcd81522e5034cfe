"""The immutable archive: every file received is copied here, addressed by its hash, before anything else.

`<archive>/<sha[:2]>/<sha>/<file name>`: writing the same bytes twice is a no-op, and a copy is written
to a temporary name, its bytes hashed as they are copied and checked against the landed hash, then renamed,
so a crash never leaves a half-written copy under a final name. Beside each copy, a small manifest of the
landings of those bytes (kind, landing path, received_at: `ingestion.recover`) lets a lost warehouse be
rebuilt from the archive alone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ingestion.discover import HASH_CHUNK, LandedFile, sha256_of
from ingestion.recover import write_sidecar


def _copy_hashing(source: Path, target: Path) -> str:
    """Copy `source` to `target`; the sha256 of the bytes copied (one pass over the file)."""
    h = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(HASH_CHUNK):
            h.update(chunk)
            dst.write(chunk)
    return h.hexdigest()


def archive_path(archive_dir: Path, landed: LandedFile) -> Path:
    return archive_dir / landed.sha256[:2] / landed.sha256 / landed.file_name


def archive(landing_dir: Path, archive_dir: Path, landed: LandedFile) -> Path:
    """Copy the landed file into the archive (idempotent); returns the archived path."""
    target = archive_path(archive_dir, landed)
    if target.exists() and sha256_of(target) == landed.sha256:
        write_sidecar(target, landed)  # a crash between the copy and its manifest, or another landing path
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    source = landing_dir / landed.landing_path
    tmp = target.with_name(target.name + ".partial")
    if source.is_symlink():
        # Keep what was received (the link itself), never what it points to.
        tmp.write_text(os.readlink(source), encoding="utf-8")
    else:
        if _copy_hashing(source, tmp) != landed.sha256:
            tmp.unlink()
            raise RuntimeError(f"{landed.landing_path} changed while it was being archived; it will be "
                               "picked up by the next run")
    os.replace(tmp, target)
    write_sidecar(target, landed)
    return target
