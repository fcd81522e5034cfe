"""Soundness of a warehouse after crashes and reruns: no duplicated ledger, quarantine or raw rows, every
archived copy present and hashing to its sha256."""

from __future__ import annotations

from pathlib import Path

from foundation.config import Settings
from ingestion.discover import sha256_of
from tests.helpers.warehouse import warehouse_rows


def assert_sound(s: Settings) -> None:
    """No duplicates anywhere, and every ledger row's archived copy exists and hashes to its sha256."""
    for table, key in (("dq.submission_files", "submission_id"), ("dq.submission_ledger", "submission_id"),
                       ("dq.quarantine", "submission_id, row_number"),
                       ("dq.ignored_rows", "submission_id, row_number"),
                       ("raw.buildings", "submission_id, row_number")):
        dupes = warehouse_rows(s, f"select {key}, count(*) from {table} group by all having count(*) > 1")
        assert dupes == [], f"duplicated rows in {table}: {dupes}"
    dupes = warehouse_rows(s, "select submission_id, status, count(*) from dq.submission_status_log group by all "
                      "having count(*) > 1")
    assert dupes == [], f"a status logged twice: {dupes}"
    for path, sha in warehouse_rows(s, "select archived_path, sha256 from dq.submission_ledger"):
        assert Path(path).is_file(), f"archived copy missing: {path}"
        assert sha256_of(Path(path)) == sha, f"archived copy does not hash to its sha256: {path}"
    assert not list(s.archive_dir.rglob("*.partial"))

