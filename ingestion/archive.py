"""The immutable archive: every file received is copied here, addressed by its hash, before anything else.

`<archive>/<sha[:2]>/<sha>/<file name>`: writing the same bytes twice is a no-op, and a copy is written
to a temporary name, its bytes hashed as they are copied and checked against the landed hash, then renamed,
so a crash never leaves a half-written copy under a final name.

Neither name takes its length from the landed name beyond what a file system allows: the temporary name is
fixed (`.partial-<pid>`), and a landed name longer than `NAME_MAX` bytes is shortened, keeping its
extension (the folder, named by the hash, is what identifies the copy). A file whose size, modification
time or bytes change while it is copied is not archived (`LandedFileChanged`: it is still being written,
and waits for a later run); one that cannot be read is `UnreadableLandedFile`, which carries the landed file
as it is recorded instead (rejected, with a note of the error archived in place of its bytes). Errors of
the archive itself (full, read-only) are raised as they are: no file is to blame, the run is retried.
Beside each copy, a small manifest of the landings of those bytes (kind, landing path, received_at:
`ingestion.recover`) lets a lost warehouse be rebuilt from the archive alone; its name is bounded like the copy's.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from stat import S_ISREG

from ingestion.discover import HASH_CHUNK, LandedFile, received_at, sha256_of, unreadable

NAME_MAX = 255  # bytes in a file name: ext4, XFS, Btrfs, tmpfs, ZFS
# What no landed file causes: the archive is full or cannot be written. These fail the run (and are retried).
ARCHIVE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


class LandedFileChanged(RuntimeError):
    """The landed file changed while it was being archived: it is still being written."""


class UnreadableLandedFile(Exception):
    """The landed file could not be read; `landed` is the file as the ledger records it (see
    `ingestion.discover.unreadable`), which `archive` archives in its turn."""

    def __init__(self, landed: LandedFile) -> None:
        super().__init__(landed.problem)
        self.landed = landed


def copy_hashing(source: Path, target: Path) -> str:
    """Copy `source` to `target`; the sha256 of the bytes copied (one pass over the file)."""
    h = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(HASH_CHUNK):
            h.update(chunk)
            dst.write(chunk)
    return h.hexdigest()


def archived_name(file_name: str, max_bytes: int = NAME_MAX) -> str:
    """The landed name, shortened (at a character, keeping the extension) to at most `max_bytes` bytes."""
    if len(os.fsencode(file_name)) <= max_bytes:
        return file_name
    stem, dot, ext = file_name.rpartition(".")
    if not dot or len(os.fsencode(ext)) > 16:
        stem, dot, ext = file_name, "", ""
    room = max_bytes - len(os.fsencode(f"~{dot}{ext}"))
    kept, size = [], 0
    for c in stem:
        size += len(os.fsencode(c))
        if size > room:
            break
        kept.append(c)
    return f"{''.join(kept)}~{dot}{ext}"


SIDECAR_SUFFIX = ".landed.json"  # beside each copy: its landings (`ingestion.recover` reads them back)


def sidecar_path(copy: Path) -> Path:
    """`.<copy name>.landed.json`, its name bounded like the copy's (a long name is shortened first)."""
    return copy.with_name(f".{archived_name(copy.name, NAME_MAX - 1 - len(SIDECAR_SUFFIX))}{SIDECAR_SUFFIX}")


def write_sidecar(copy: Path, landed: LandedFile) -> None:
    """Record this landing beside the archived copy (idempotent; a new landing path of the same bytes and name
    is added), written atomically."""
    path = sidecar_path(copy)
    landings = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    if any(item["landing_path"] == landed.landing_path for item in landings):
        return
    landings.append(asdict(landed) | {"received_at": landed.received_at.isoformat()})
    tmp = path.with_name(f".partial-{os.getpid()}")
    tmp.write_text(json.dumps(landings, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def archive_path(archive_dir: Path, landed: LandedFile) -> Path:
    return archive_dir / landed.sha256[:2] / landed.sha256 / archived_name(landed.file_name)


def _unchanged(source: Path, landed: LandedFile) -> bool:
    """Still the regular file of the scan's size and modification time (not replaced by a link, say)."""
    stat = source.lstat()
    return (S_ISREG(stat.st_mode) and stat.st_size == landed.size_bytes
            and received_at(stat) == landed.received_at)


def archive(landing_dir: Path, archive_dir: Path, landed: LandedFile) -> Path:
    """Copy the landed file into the archive (idempotent); returns the archived path."""
    target = archive_path(archive_dir, landed)
    if target.exists() and sha256_of(target) == landed.sha256:
        write_sidecar(target, landed)  # a crash between the copy and its manifest, or another landing path
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    source = landing_dir / landed.landing_path
    tmp = target.with_name(f".partial-{os.getpid()}")
    try:
        if landed.note is not None:
            # Keep what was received (a link itself, never what it points to), or why nothing could be.
            tmp.write_bytes(landed.note.encode("utf-8", "surrogateescape"))
        else:
            _copy_checked(source, tmp, landed)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    write_sidecar(target, landed)
    return target


def _copy_checked(source: Path, tmp: Path, landed: LandedFile) -> None:
    """Copy a regular file to `tmp`, checking that it is the file the scan saw, before and after."""
    changed = LandedFileChanged(f"{landed.landing_path} changed while it was being archived; it will be "
                                "picked up by the next run")
    try:
        if not _unchanged(source, landed):
            raise changed
        digest = copy_hashing(source, tmp)
        if digest != landed.sha256 or not _unchanged(source, landed):
            raise changed
    except FileNotFoundError:
        raise changed from None  # removed or renamed meanwhile: not landed any more
    except OSError as exc:
        if exc.errno in ARCHIVE_ERRNOS:
            raise
        raise UnreadableLandedFile(unreadable(landed, exc)) from exc
