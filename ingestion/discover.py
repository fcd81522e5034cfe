"""Find the files in the landing zone that the ledger has not accounted for yet.

A landed file is identified by its path under the landing zone and its SHA-256: the same path with new
bytes is a new file version (a re-upload), the same bytes under another path is a duplicate (decided
later, against the ledger). Anything that is not a regular file inside the landing zone (a symbolic
link, a path that escapes it) is recorded as rejected, never followed.

A file that cannot be read (permissions, an I/O error) is not skipped: it is recorded as rejected with the
error, and a note of it is what the archive keeps (`note`, as for a symbolic link its target). A file still
being written is left for a later run: one modified within `PREFAB_LANDING_SETTLE_SECONDS` of the scan
(`settling`), or whose size, modification time or bytes change while it is archived.

Hashing every landed file every night costs a read of the whole landing zone (15 s for the 600 MB of a
national year). As rsync does, a file whose path, size and modification time are those of a file the ledger
already holds is taken to have that file's hash without being read (`known`); a re-upload, even of the same
size, gets a new modification time and is hashed. `PREFAB_REHASH_LANDING=1` hashes everything.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from foundation.bilingual import join
from foundation.config import SUBMISSION_KINDS

HASH_CHUNK = 1 << 20
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandedFile:
    kind: str | None  # None when the file is not under a known kind's folder
    landing_path: str  # relative to the landing zone, with forward slashes
    file_name: str
    sha256: str
    size_bytes: int
    received_at: datetime  # the file's modification time (when it landed), UTC, naive
    problem: str | None = None  # a reason to reject the file before reading it
    note: str | None = None  # archived in place of the bytes: a symbolic link's target, why a file is unreadable
    reprocessed_by: str | None = None  # the run that re-read the archived file (`ingestion.reprocess`)

    @property
    def submission_id(self) -> str:
        """Stable id of this file version: the same landing path and bytes always get the same id; a reprocessing
        of it (the same file re-read by a later run's rules) is a version of its own."""
        key = f"{self.landing_path}\0{self.sha256}" + (f"\0{self.reprocessed_by}" if self.reprocessed_by else "")
        return f"S{hashlib.sha256(key.encode()).hexdigest()[:15]}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def received_at(stat: os.stat_result) -> datetime:
    """A file's modification time as the ledger keeps it (UTC, naive)."""
    return datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)


def settling(landed: LandedFile, settle_seconds: float, now: float | None = None) -> bool:
    """Whether the file was modified so recently (within `settle_seconds` of `now`, either side) that it may
    still be being written: it waits for a later run. A modification time further in the future than that
    (a submitter's clock) does not make a file wait for ever."""
    now = time.time() if now is None else now
    age = now - landed.received_at.replace(tzinfo=UTC).timestamp()
    return abs(age) < settle_seconds


def unreadable(landed: LandedFile, exc: OSError) -> LandedFile:
    """The file that could not be read or archived, as the ledger records it: rejected with the error; the
    archive keeps a note of it (its hash is the note's), since its bytes could not be had."""
    what = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    note = f"unreadable landed file\0{landed.landing_path}\0{landed.size_bytes}\0{landed.received_at}\0{what}"
    return replace(landed, sha256=hashlib.sha256(note.encode("utf-8", "surrogateescape")).hexdigest(), note=note,
                   problem=join(f"无法从接收区读取文件“{landed.landing_path}”（{exc.strerror or exc}）：文件内容均未"
                                "载入；请重新上传，如果再次出现此原因，请联系省级数据管理员检查接收区",
                                f"the file '{landed.landing_path}' could not be read from the landing zone "
                                f"({exc.strerror or exc}): none of it was loaded; upload it again, and if this "
                                "reason comes back, ask the provincial data administrator to check the landing zone"))


# (landing path, size in bytes, modification time) -> the sha256 the ledger recorded for that file
KnownFiles = dict[tuple[str, int, datetime], str]


def _landed(entry: os.DirEntry, rel: str, known: KnownFiles) -> LandedFile:
    """The landed file of a directory entry (`rel`: its path below the landing zone), with one `lstat`: pathlib
    paths stat each file three or four times; on 81,000 known files the scan took 1.7-1.8 s with entries, 4.8-5.4 s
    with paths (December 2026, another job on the second core)."""
    parts = rel.split("/")
    kind = parts[0] if len(parts) == 2 and parts[0] in SUBMISSION_KINDS else None
    problem = None
    if kind is None:
        problem = join(f"文件“{rel}”不在任何一个报送文件夹（{'、'.join(SUBMISSION_KINDS)}，直接放在文件夹下一层）中："
                       "请把它放进对应报表的文件夹后重新报送",
                       f"file '{rel}' is not in one of the landing folders {', '.join(SUBMISSION_KINDS)} "
                       "(one level deep)")
    stat = entry.stat(follow_symlinks=False)
    mtime = received_at(stat)
    if entry.is_symlink():
        # Never follow: hash the link text itself so the ledger can still name it.
        target = os.readlink(entry.path)
        sha = hashlib.sha256(target.encode("utf-8", "surrogateescape")).hexdigest()
        return LandedFile(kind, rel, entry.name, sha, 0, mtime,
                          join(f"“{rel}”是一个符号链接（指向“{target}”）：只接受普通文件，请上传文件本身",
                               f"'{rel}' is a symbolic link (to '{target}'); only regular files are accepted"), target)
    sha = known.get((rel, stat.st_size, mtime))
    try:
        sha = sha or sha256_of(Path(entry.path))
    except FileNotFoundError:
        raise  # gone meanwhile (see scan_landing)
    except OSError as exc:
        return unreadable(LandedFile(kind, rel, entry.name, "", stat.st_size, mtime, problem), exc)
    return LandedFile(kind, rel, entry.name, sha, stat.st_size, mtime, problem)


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
    known = known or {}
    folders = [("", str(root))]
    while folders:
        prefix, folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:  # a folder that cannot be listed: as os.walk did, its files wait, named in the log
            log.warning("landing folder %s cannot be listed (%s): its files are not seen this run", folder, exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                # A symbolic link (to a folder too) is never entered, but it is something a submitter put
                # here: recorded. Entries that are neither files nor folders (a FIFO, a socket) are not.
                if not entry.is_symlink() and entry.is_dir(follow_symlinks=False):
                    folders.append((f"{prefix}{entry.name}/", entry.path))
                elif (entry.is_symlink() or entry.is_file(follow_symlinks=False)) \
                        and not entry.name.endswith((".part", ".tmp")):
                    found.append(_landed(entry, prefix + entry.name, known))
            except FileNotFoundError:
                continue  # gone since the folder was listed: nothing landed
    found.sort(key=lambda f: (f.received_at, f.landing_path))
    return found
