"""The immutable archive: a copy is addressed by its hash, written once, and never kept if the landed bytes
changed between the scan and the copy."""

from __future__ import annotations

import pytest

from ingestion.archive import archive, archive_path
from ingestion.discover import scan_landing, sha256_of


def _land(tmp_path, text: bytes):
    landing = tmp_path / "landing"
    (landing / "buildings").mkdir(parents=True)
    path = landing / "buildings" / "330402_2024-03.csv"
    path.write_bytes(text)
    return landing, path


def test_copy_is_addressed_by_hash_and_idempotent(tmp_path):
    landing, _ = _land(tmp_path, b"a,b\n1,2\n" * 300_000)  # several copy chunks
    (landed,) = scan_landing(landing)
    first = archive(landing, tmp_path / "archive", landed)
    assert first == archive_path(tmp_path / "archive", landed)
    assert sha256_of(first) == landed.sha256
    before = first.stat().st_mtime_ns
    assert archive(landing, tmp_path / "archive", landed) == first
    assert first.stat().st_mtime_ns == before  # the same bytes are not written twice


def test_file_changed_after_the_scan_is_not_archived(tmp_path):
    landing, path = _land(tmp_path, b"a,b\n1,2\n")
    (landed,) = scan_landing(landing)
    path.write_bytes(b"a,b\n1,3\n")  # the county overwrote it in the meantime
    with pytest.raises(RuntimeError, match="changed while it was being archived"):
        archive(landing, tmp_path / "archive", landed)
    target = archive_path(tmp_path / "archive", landed)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no partial copy left behind
