"""Landed files that are awkward as files, not as contents: names as long as the file system allows, files
that cannot be read, files still being written. None of them may fail a run: each ends recorded (or, while
it is still being written, waits for a later run), on the stage functions as the DAG's tasks call them."""

from __future__ import annotations

import dataclasses
import errno
import os
import time
from pathlib import Path

import duckdb
import pytest

import ingestion.archive as archive_module
import ingestion.discover as discover_module
from ingestion.archive import NAME_MAX, archive, archived_name
from ingestion.discover import scan_landing, sha256_of
from tests.helpers.landing import HEADER, land, ledger, row, run

T0 = 1_600_000_000


def _rows(n: int, unit: str = "330402", period: str = "2020-03") -> str:
    return HEADER + "".join(row(unit, period, "P1", f"{i}#", f"{period}-05", "1000", "600") for i in range(n))


def _archived(settings, file_name: str) -> tuple[str, str]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute("select archived_path, sha256 from dq.submission_files where file_name = ?",
                           [file_name]).fetchone()
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------- long names


def _long_name(size: int) -> str:
    name = "330402_2020-03_"
    while len((name + "说明.csv").encode()) <= size:
        name += "说"
    name += "x" * (size - len((name + ".csv").encode()))
    return name + ".csv"


@pytest.mark.parametrize("size", [250, 255])
def test_a_name_as_long_as_the_file_system_allows_is_archived_and_loaded(data_env, size):
    name = _long_name(size)
    assert len(name.encode()) == size
    land(data_env, name, _rows(2), T0)
    result = run(data_env, "r1")
    assert result["discover"] == {"landed": 1, "new": 1, "recovered": 0, "waiting": []}
    assert ledger(data_env)[name][:3] == ("loaded", 2, 2)
    archived, sha = _archived(data_env, name)
    assert len(os.path.basename(archived).encode()) <= NAME_MAX
    assert sha256_of(Path(archived)) == sha
    assert not [p for p in data_env.archive_dir.rglob(".partial*")]


def test_archived_names_are_shortened_at_a_character_keeping_the_extension():
    long = "330402_2020-03_" + "说明" * 100 + ".XLSX"
    short = archived_name(long)
    assert len(short.encode()) <= NAME_MAX and short.endswith("~.XLSX") and short.startswith("330402_2020-03_说")
    assert archived_name("330402_2020-03.csv") == "330402_2020-03.csv"


# ---------------------------------------------------------------------------------------------- unreadable


def test_a_file_that_cannot_be_read_is_rejected_with_the_error_not_the_run(data_env, monkeypatch):
    land(data_env, "330402_2020-03.csv", _rows(1), T0)
    land(data_env, "330411_2020-03.csv", _rows(1, unit="330411"), T0 + 1)
    land(data_env, "330421_2020-03.csv", _rows(1, unit="330421"), T0 + 2)
    real_hash, real_copy = discover_module.sha256_of, archive_module.copy_hashing

    def hash_or_fail(path):
        if path.name == "330411_2020-03.csv":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_hash(path)

    def copy_or_fail(source, target):
        if source.name == "330421_2020-03.csv":
            raise OSError(errno.EIO, "Input/output error", str(source))
        return real_copy(source, target)

    monkeypatch.setattr(discover_module, "sha256_of", hash_or_fail)
    monkeypatch.setattr(archive_module, "copy_hashing", copy_or_fail)
    run(data_env, "r1")
    got = ledger(data_env)
    assert got["330402_2020-03.csv"][0] == "loaded"
    for name, error in (("330411_2020-03.csv", "Permission denied"), ("330421_2020-03.csv", "Input/output error")):
        status, received, loaded, *_, reason = got[name]
        assert (status, received, loaded) == ("rejected", 0, 0)
        assert f"could not be read from the landing zone ({error})" in reason and "upload it again" in reason
        archived, sha = _archived(data_env, name)
        assert sha256_of(Path(archived)) == sha  # the note archived in its place
    assert run(data_env, "r2")["discover"]["new"] == 0  # recorded once, not again every night

    def archive_full(source, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archive_module, "copy_hashing", archive_full)
    land(data_env, "330424_2020-03.csv", _rows(1, unit="330424"), T0 + 3)
    with pytest.raises(OSError, match="No space left"):  # the archive's own fault: the run fails and is retried
        run(data_env, "r3")


# ---------------------------------------------------------------------------------------------- still being written


def test_a_file_modified_within_the_settle_time_waits_for_a_later_run(data_env):
    s = dataclasses.replace(data_env, landing_settle_seconds=60)
    land(s, "330402_2020-03.csv", _rows(1), T0)
    land(s, "330411_2020-03.csv", _rows(22, unit="330411"), int(time.time()))  # the upload is still going on
    result = run(s, "r1")
    assert result["discover"] == {"landed": 2, "new": 1, "recovered": 0, "waiting": ["buildings/330411_2020-03.csv"]}
    assert set(ledger(s)) == {"330402_2020-03.csv"}

    land(s, "330411_2020-03.csv", _rows(40, unit="330411"), int(time.time()) - 120)  # finished, and settled
    result = run(s, "r2")
    assert result["discover"] == {"landed": 2, "new": 1, "recovered": 0, "waiting": []}
    assert ledger(s)["330411_2020-03.csv"][:3] == ("loaded", 40, 40)


def test_a_file_written_to_while_it_is_archived_is_not_recorded(data_env, monkeypatch):
    s = dataclasses.replace(data_env, landing_settle_seconds=0)
    land(s, "330411_2020-03.csv", _rows(22, unit="330411"), T0)
    path = s.landing_dir / "buildings" / "330411_2020-03.csv"
    real_copy = archive_module.copy_hashing

    def copy_while_appending(source, target):  # the writer appends the rest of the rows mid-copy
        with path.open("a", encoding="utf-8") as fh:
            fh.write("".join(row("330411", "2020-03", "P1", f"{i}#", "2020-03-05", "1000", "600")
                             for i in range(22, 40)))
        return real_copy(source, target)

    monkeypatch.setattr(archive_module, "copy_hashing", copy_while_appending)
    result = run(s, "r1")
    assert result["discover"] == {"landed": 1, "new": 0, "recovered": 0, "waiting": ["buildings/330411_2020-03.csv"]}
    assert result["load"]["rows_loaded"] == 0 and ledger(s) == {}
    assert not [p for p in s.archive_dir.rglob("*") if p.is_file()]  # no copy, whole or partial

    monkeypatch.setattr(archive_module, "copy_hashing", real_copy)
    result = run(s, "r2")
    assert ledger(s)["330411_2020-03.csv"][:3] == ("loaded", 40, 40)


def test_archive_refuses_a_file_whose_size_or_time_changed_since_the_scan(tmp_path):
    landing = tmp_path / "landing"
    (landing / "buildings").mkdir(parents=True)
    path = landing / "buildings" / "330402_2024-03.csv"
    path.write_bytes(b"a,b\n1,2\n")
    os.utime(path, (T0, T0))
    (landed,) = scan_landing(landing)
    os.utime(path, (T0 + 5, T0 + 5))  # same bytes, touched again: the writer may not be done
    with pytest.raises(archive_module.LandedFileChanged):
        archive(landing, tmp_path / "archive", landed)


# ------------------------------------------------------------------------------------------ what the scan sees


def _walked(root: Path) -> dict[str, tuple[int, bool]]:
    """What the landing scan should see, found another way (os.walk and pathlib): every regular file or symbolic
    link below `root` outside hidden folders, but hidden names and partial uploads, with its size (0 for a
    link) and whether it is a link."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames + [d for d in os.listdir(dirpath) if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            if name.startswith(".") or name.endswith((".part", ".tmp")):
                continue
            if path.is_symlink() or path.is_file():
                seen[path.relative_to(root).as_posix()] = (0 if path.is_symlink() else path.stat().st_size,
                                                           path.is_symlink())
    return seen


def test_the_scan_sees_every_file_and_link_and_nothing_else(tmp_path):
    """Files, links to files, to folders and to nothing are seen (links as links, never followed); hidden names,
    partial uploads, a FIFO and what lies in a hidden folder are not; a file nested too deep or outside the
    kind folders is seen with its reason."""
    root = tmp_path / "landing"
    (root / "buildings" / "deeper").mkdir(parents=True)
    (root / "buildings" / ".hidden_folder").mkdir()
    (root / "buildings" / "a.csv").write_text("abc")
    (root / "buildings" / "deeper" / "b.csv").write_text("abcd")
    (root / "buildings" / ".hidden_folder" / "c.csv").write_text("x")
    (root / "buildings" / ".d.csv").write_text("x")
    (root / "buildings" / "e.csv.part").write_text("x")
    (root / "stray.csv").write_text("xy")
    os.mkfifo(root / "buildings" / "pipe.csv")
    os.symlink(root / "buildings" / "a.csv", root / "buildings" / "link.csv")
    os.symlink(root / "buildings" / "deeper", root / "buildings" / "folder_link")
    os.symlink(tmp_path / "nowhere", root / "buildings" / "broken.csv")
    expected = _walked(root)
    assert set(expected) == {"buildings/a.csv", "buildings/deeper/b.csv", "stray.csv", "buildings/link.csv",
                             "buildings/folder_link", "buildings/broken.csv"}  # the oracle itself, checked
    landed = {f.landing_path: f for f in scan_landing(root)}
    assert {p: (f.size_bytes, f.note is not None) for p, f in landed.items()} == expected
    assert landed["buildings/a.csv"].problem is None and landed["buildings/a.csv"].kind == "buildings"
    assert landed["buildings/a.csv"].sha256 == sha256_of(root / "buildings" / "a.csv")
    assert landed["buildings/folder_link"].note == str(root / "buildings" / "deeper")
    assert landed["buildings/deeper/b.csv"].kind is None and landed["buildings/deeper/b.csv"].problem
    assert landed["stray.csv"].kind is None and landed["stray.csv"].problem
