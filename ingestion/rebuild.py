"""A lost warehouse made whole again: its history from the journal, its raw rows from the archive.

`restore_from_journal` inserts every journaled `dq` row the warehouse lacks (`foundation.journal`): the ledger
(every file's facts, every status it took, its quarantined and ignored rows), the check results, the steward
decisions and the publication log, exactly as they were recorded, so the same submission ids keep the same
statuses, waivers stay in force and the next publication id follows the last one. The raw rows are not
journaled (the archive holds every file): `rebuild_raw` re-reads, from the archive, each file the ledger says
is loaded but whose rows the raw tables do not hold, through today's read stage, and inserts its rows but the
quarantined ones, as the load did. dbt then rebuilds the marts, and the run publishes the same figures (or
nothing, when they equal the live publication).

Both run at the start of every nightly run (`pipeline.recovery.discover`) and cost a line count per journal
file and one query when nothing was lost. A crash between the two steps is completed by the next run (the
raw rows missing are found again).
"""

from __future__ import annotations

import logging
from datetime import datetime

from foundation.config import SUBMISSION_KINDS, Settings
from foundation.db import connect_warehouse
from foundation.journal import restore, sync
from foundation.workdir import WorkDir
from ingestion.ledger import Ledger
from ingestion.stages import read, row_batches

log = logging.getLogger(__name__)

# Loaded files (their latest status) with rows loaded but none in their raw table.
MISSING_RAW_SQL = " union all ".join(f"""
select l.submission_id, l.kind, l.landing_path, l.file_name, l.sha256, l.size_bytes, l.received_at, l.archived_path
from dq.submission_ledger as l
where l.status = 'loaded' and l.rows_loaded > 0 and l.kind = '{kind}'
    and not exists (select 1 from raw.{kind} as r where r.submission_id = l.submission_id)"""
                                   for kind in SUBMISSION_KINDS)


def restore_from_journal(settings: Settings) -> dict[str, int]:
    """Insert the journaled rows the warehouse lacks (one transaction), then complete the journal with the
    warehouse's rows it lacks; returns the rows restored per table."""
    with connect_warehouse(settings) as con:
        con.execute("begin transaction")
        try:
            restored = restore(con, settings)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        sync(con, settings)
    if restored:
        log.warning("warehouse restored from the journal %s: %s", settings.journal_dir,
                    ", ".join(f"{t} {n} rows" for t, n in restored.items()))
    return restored


def rebuild_raw(settings: Settings, run_id: str) -> int:
    """Re-read from the archive every loaded file whose raw rows are missing and insert them (but the
    quarantined rows); returns the rows inserted."""
    with connect_warehouse(settings, read_only=True) as con:
        missing = con.execute(MISSING_RAW_SQL).fetchall()
    if not missing:
        return 0
    work_id = f"{run_id}.rebuild-raw"
    work = WorkDir(settings, work_id)
    columns = ("submission_id", "kind", "landing_path", "file_name", "sha256", "size_bytes", "received_at",
               "archived_path")
    manifest = [dict(zip(columns, r, strict=True)) | {"received_at": r[6].isoformat(), "problem": None,
                                                      "note": None, "notes": []} for r in missing]
    work.write_json("manifest.json", manifest)
    read(settings, work_id)
    outcomes = {o["submission_id"]: o for o in work.read_json("read.json", [])}
    unreadable = [o for o in outcomes.values() if o["status"] != "read"]
    for o in unreadable:
        log.error("the archived copy of loaded submission %s no longer reads as it did: %s", o["submission_id"],
                  o["reason"])
    with connect_warehouse(settings) as con:
        con.execute("begin transaction")
        try:
            ledger = Ledger(con, run_id)
            quarantined = con.execute("select submission_id, row_number from dq.quarantine").fetchall()
            for kind in SUBMISSION_KINDS:
                accepted = {e["submission_id"]: datetime.fromisoformat(e["received_at"]) for e in manifest
                            if e["kind"] == kind and outcomes[e["submission_id"]]["status"] == "read"}
                for rows in row_batches(work, kind) if accepted else ():
                    ledger.insert_raw(kind, rows, accepted, quarantined, warn=False)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    work.remove()
    log.warning("raw rows of %d loaded files re-read from the archive: %d rows", len(missing), ledger.rows_loaded)
    return ledger.rows_loaded
