"""Find the files in the landing zone that the ledger has not accounted for yet.

A landed file is identified by its path under the landing zone and its SHA-256: the same path with new
bytes is a new file version (a re-upload), the same bytes under another path is a duplicate (decided
later, against the ledger). Anything that is not a regular file inside the landing zone (a symbolic
link, a path that escapes it) is recorded as rejected, never followed.

Hashing every landed file every night costs a read of the whole landing zone (15 s for the 600 MB of a
national year). As rsync does, a file whose path, size and modification time are those of a file the ledger
already holds is taken to have that file's hash without being read (`known`); a re-upload, even of the same
size, gets a new modification time and is hashed. `PREFAB_REHASH_LANDING=1` hashes everything.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from foundation.config import SUBMISSION_KINDS

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    kind: str | None  # None when the file is not under a known kind's folder
    landing_path: str  # relative to the landing zone, with forward slashes
    file_name: str
    sha256: str
    size_bytes: int
    received_at: datetime  # the file's modification time (when it landed), UTC, naive
    problem: str | None = None  # a reason to reject the file before reading it

    @property
    def submission_id(self) -> str:
        """Stable id of this file version: the same landing path and bytes always get the same id."""
        digest = hashlib.sha256(f"{self.landing_path}\0{self.sha256}".encode()).hexdigest()
        return f"S{digest[:15]}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# (landing path, size in bytes, modification time) -> the sha256 the ledger recorded for that file
KnownFiles = dict[tuple[str, int, datetime], str]


def _landed(root: Path, path: Path, known: KnownFiles) -> LandedFile:
    rel = path.relative_to(root).as_posix()
    parts = rel.split("/")
    kind = parts[0] if len(parts) == 2 and parts[0] in SUBMISSION_KINDS else None
    problem = None
    if kind is None:
        problem = (f"file '{rel}' is not in one of the landing folders {', '.join(SUBMISSION_KINDS)} "
                   "(one level deep)")
    stat = path.lstat()
    if path.is_symlink():
        # Never follow: hash the link text itself so the ledger can still name it.
        target = os.readlink(path)
        return LandedFile(kind, rel, path.name, hashlib.sha256(target.encode()).hexdigest(), 0,
                          datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None),
                          f"'{rel}' is a symbolic link (to '{target}'); only regular files are accepted")
    mtime = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
    sha = known.get((rel, stat.st_size, mtime)) or sha256_of(path)
    return LandedFile(kind, rel, path.name, sha, stat.st_size, mtime, problem)


def scan_landing(root: Path, known: KnownFiles | None = None) -> list[LandedFile]:
    """Every regular file or symlink (to a file or a folder) below the landing zone, in received order
    (mtime, then path). `known`: files the ledger holds, whose hash is not computed again.

    Hidden files (names starting with '.') and partial uploads ('*.part', '*.tmp') are skipped: they are
    not submissions yet.
    """
    if not root.exists():
        return []
    root = root.resolve()
    found: list[LandedFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        # A symbolic link to a folder is never entered, but it is something a submitter put here: recorded.
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in links)
        for name in sorted(filenames + links):
            if name.startswith(".") or name.endswith((".part", ".tmp")):
                continue
            path = Path(dirpath) / name
            if path.is_file() or path.is_symlink():
                found.append(_landed(root, path, known or {}))
    found.sort(key=lambda f: (f.received_at, f.landing_path))
    return found
