"""What the data folders of one dbt project share on this machine: dbt's saved parse, and the project whose
unit tests passed.

dbt keeps its parse of the project (`partial_parse.msgpack`) in each target folder and reuses it when the project
files, dbt's version and the connection details are those it was saved with (dbt checks every file's hash:
a stale copy is only a full parse, never a wrong one). A new data folder (a new deployment, a restore into
an empty folder, every test) has no target folder yet, so its first build would parse in full; it starts
from the parse the last build of any data folder saved instead. Measured 2026-12-03 on tiny data: `dbt parse`
5.0 s in full, 1.5 s from the copy.

Unit tests check the models' SQL on fixed inputs, not a warehouse's data: once they passed for a project (its
fingerprint, `publishing.unchanged.project_fingerprint`, which includes dbt's version) in one data folder,
the first build of another data folder leaves them out too (about 3.5 s of a first build on tiny data,
measured 2026-12-08: 13 unit tests, 7.1 s on dbt's two threads).

Both live in the dbt project's own `target/` folder (dbt's default target, ignored by git). Where that
folder cannot be written (a read-only install) nothing is shared: every first build parses in full and runs
the unit tests.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from foundation.config import Settings

log = logging.getLogger(__name__)

PARSE_FILE = "partial_parse.msgpack"


def seed_path(settings: Settings) -> Path:
    return settings.dbt_project_dir / "target" / f"shared_{PARSE_FILE}"


def offer(settings: Settings, target: Path) -> bool:
    """Before dbt runs: a target folder without a saved parse gets a copy of the shared one. True if copied."""
    mine, shared = target / PARSE_FILE, seed_path(settings)
    if mine.exists() or not shared.exists():
        return False
    return _copied(shared, mine, "dbt's shared parse not copied (%s): this build parses the project in full")


def keep(settings: Settings, target: Path) -> bool:
    """After dbt ran: its saved parse, if newer than the shared one, becomes the shared one. True if kept."""
    mine, shared = target / PARSE_FILE, seed_path(settings)
    try:
        newer = mine.exists() and not (shared.exists() and shared.stat().st_mtime >= mine.stat().st_mtime)
    except OSError:  # removed meanwhile (another data folder's run replaced it)
        return False
    return newer and _copied(mine, shared, "dbt's parse not shared (%s)")


def unit_tests_path(settings: Settings) -> Path:
    return settings.dbt_project_dir / "target" / "shared_unit_tests_passed"


def unit_tests_passed(settings: Settings) -> str | None:
    """The fingerprint of the project whose unit tests last passed, in any data folder (None: none known)."""
    try:
        return unit_tests_path(settings).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def keep_unit_tests_passed(settings: Settings, fingerprint: str) -> bool:
    """After a build whose unit tests all passed: the project they passed with, for the other data folders."""
    return _written(unit_tests_path(settings), lambda tmp: tmp.write_text(fingerprint + "\n", encoding="utf-8"),
                    "the unit tests' pass not shared (%s)")


def _copied(source: Path, destination: Path, failure: str) -> bool:
    return _written(destination, lambda tmp: shutil.copy2(source, tmp), failure)


def _written(destination: Path, fill: Callable[[Path], object], failure: str) -> bool:
    """`fill` a file beside `destination`, then rename it over it: readers (dbt in another data folder, another
    worker) see the old file or the new one, never a part. False (and `failure` logged) when it cannot be."""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
        os.close(fd)
        try:
            fill(Path(tmp))
            os.replace(tmp, destination)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.info(failure, exc)
        return False
    return True
