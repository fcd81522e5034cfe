"""Recovery that loses nothing: a corrupt warehouse is set aside with an alert, a lost one is rebuilt.

`set_aside_if_corrupt` runs before every stage that writes the warehouse (`pipeline.stages.run_stage`, under
the writer lock): a `warehouse.duckdb` that DuckDB cannot open (overwritten, a checksum mismatch) or that is
cut short (truncated: its catalog may still open, but not every block of its tables' data is in the file),
which used to fail every night at the first stage, is renamed `warehouse.duckdb.corrupt-<time>` (kept for a
post-mortem, with its WAL) and alerted (`pipeline.notify.alert`: the alerts file and the configured channels),
in Chinese and English with the next step. The run goes on with a new, empty warehouse.

`discover` is the nightly run's first stage: before looking at the landing zone it makes the warehouse whole
(`ingestion.rebuild`): the journal's rows it lacks (ledger, checks, decisions, publications) and the raw rows
of its loaded files, re-read from the archive. A run after a lost or corrupt warehouse therefore ends with
the same ledger, the same decisions and the same published figures.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from foundation.config import Settings
from foundation.db import DUCKDB_CONFIG
from ingestion.rebuild import rebuild_raw, restore_from_journal
from ingestion.stages import DiscoverSummary
from ingestion.stages import discover as discover_landing

log = logging.getLogger(__name__)

# DuckDB's words for a file held by another process: not corrupt, waited for (foundation.db).
LOCK_WORDS = ("Conflicting lock", "Could not set lock")
# Errors of the machine, not of the file: never a reason to set the warehouse aside.
MACHINE_WORDS = ("Permission denied", "No space left", "Read-only file system", "Too many open files",
                 "Cannot allocate memory", "Out of Memory")
CHECKED_TABLE = "dq.submission_files"  # a table every warehouse has: reading it reads the catalog
# A DuckDB file is its headers (one file header, two database headers of 4 KiB) then its blocks. A file cut
# short may still open (its catalog is read) while the blocks of some table are gone ("Could not read enough
# bytes" at the first full read): every block the tables' data is stored in must be in the file. (Not
# `total_blocks`: it counts free blocks past the end of a file DuckDB has shortened, measured on duckdb 2.0.)
HEADER_BYTES = 3 * 4096


def corruption(path: Path) -> str | None:
    """Why the warehouse file cannot be used (DuckDB's message), or None when it opens (or does not exist,
    or is only held by another process)."""
    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
        try:
            tables = {r[0] for r in con.execute(
                "select schema_name || '.' || table_name from duckdb_tables()").fetchall()}
            if CHECKED_TABLE in tables:
                con.execute(f"select count(*) from {CHECKED_TABLE}").fetchone()
            block_size = con.execute("select block_size from pragma_database_size() "
                                     "where database_name = current_database()").fetchone()[0]
            stored = [con.execute(f"select max(block_id) from pragma_storage_info('{name}') where persistent")
                      .fetchone()[0] for name in _quoted_tables(con)]
            last = max((b for b in stored if b is not None), default=None)
        finally:
            con.close()
    except duckdb.Error as exc:
        text = str(exc)
        if any(w in text for w in LOCK_WORDS + MACHINE_WORDS):
            return None
        return text[:1000]
    size = path.stat().st_size
    blocks = max(size - HEADER_BYTES, 0) // block_size  # the whole blocks the file holds
    if last is not None and last >= blocks:
        return (f"the file is cut short: {size} bytes hold {blocks} blocks of {block_size}, its tables' data is "
                f"stored up to block {last}")
    return None


def _quoted_tables(con) -> list[str]:
    """Every table of the open database, as pragma_storage_info takes its name ('"schema"."table"')."""
    return ['"{}"."{}"'.format(*(part.replace('"', '""') for part in row)) for row in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database()").fetchall()]


def set_aside_if_corrupt(settings: Settings, run_id: str) -> Path | None:
    """Rename a corrupt `warehouse.duckdb` (and its WAL) out of the way and alert; returns its new name."""
    path = settings.warehouse_path
    why = corruption(path)
    if why is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, aside)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        os.replace(wal, aside.with_name(aside.name + ".wal"))
    message = (f"仓库文件损坏，已移至 {aside.name} 并从日志和存档重建: warehouse.duckdb could not be opened ({why}); "
               f"it was moved to {aside} and this run rebuilds the warehouse from the journal ({settings.journal_dir}) "
               f"and the archive ({settings.archive_dir}). Next step: nothing, if the run publishes; keep the moved "
               "file for a post-mortem, delete it when done.")
    log.error(message)
    from pipeline.notify import PREFIX, Message, alert  # here: it imports Airflow's notifier, seconds to import

    alert(settings, Message("warehouse_corrupt", f"{PREFIX}仓库文件损坏，已移开并重建", message),
          {"dag_id": None, "run_id": run_id, "task_id": None, "error": message, "moved_to": str(aside)})
    return aside


def make_whole(settings: Settings, run_id: str) -> dict:
    """Restore the journal's rows and the raw rows the warehouse lacks: {table: rows restored, 'raw': rows}."""
    restored = restore_from_journal(settings)
    raw = rebuild_raw(settings, run_id)
    return restored | ({"raw": raw} if raw else {})


def discover(settings: Settings, run_id: str) -> DiscoverSummary:
    """The discover stage (`ingestion.stages.discover`) on a warehouse made whole first (`make_whole`)."""
    make_whole(settings, run_id)
    return discover_landing(settings, run_id)
