"""Quarantined rows a steward accepted (decision `accept`, `steward.decisions`), loaded as reported.

An accepted row is loaded by the next nightly run's load stage (`ingestion.stages.load`, in its transaction) into
the raw table of its kind, with its submission id and row number, as if it had passed: its file is re-read from
the archive by the read stage (`ingestion.stages.read`, the code that read and normalised it the first time) and
only the accepted row is inserted (`Ledger.insert_raw`). The raw tables then hold, besides each loaded file's
passing rows, exactly the accepted rows in force of the files that are loaded:

- a row is inserted once (the rows already loaded are looked up first: `dq.accepted_rows_loaded`);
- the version logic is the file's: a row of a superseded (or rejected) file is not loaded, and a file superseded
  later takes its accepted rows out of the raw table with its other rows (`Ledger.take_slice`);
- a row whose latest decision is no longer `accept` (reopened) leaves the raw table.

The ledger's counts do not change: an accepted row stays counted as quarantined in `dq.submission_files` (the
facts of a file, as it was received and checked, are written once). After a lost warehouse
(`ingestion.rebuild`: the quarantined rows and decisions come back from the journal) the next load stage loads
the accepted rows again, so the raw tables are those the lost warehouse held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from foundation.config import SUBMISSION_KINDS
from ingestion.ledger import Ledger

log = logging.getLogger(__name__)

# Every quarantined row whose latest decision is `accept`, with its file's kind, latest status and received_at.
IN_FORCE_SQL = """
with latest as (
    select target_id, decision,
        row_number() over (partition by target_id order by reviewed_at desc, review_id desc) as rn
    from dq.steward_reviews where target_type = 'quarantined_row'
)
select l.kind, q.submission_id, q.row_number, l.status, l.received_at
from dq.quarantine as q
join latest as d on d.target_id = q.submission_id || ':' || q.row_number and d.rn = 1 and d.decision = 'accept'
join dq.submission_ledger as l on l.submission_id = q.submission_id
"""
# What the read stage needs of a file to read it again (as ingestion.rebuild re-reads a loaded file).
FILE_COLUMNS = ("submission_id", "kind", "landing_path", "file_name", "sha256", "size_bytes", "received_at",
                "archived_path")


@dataclass
class AcceptedRows:
    inserted: int = 0  # accepted rows loaded into the raw tables by this run
    removed: int = 0  # rows no longer accepted (reopened) taken out of them


def _wanted(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], tuple[str, object]]:
    """(submission, row) -> (kind, received_at) of the accepted rows in force whose file is loaded."""
    return {(sid, row): (kind, received) for kind, sid, row, status, received in con.execute(IN_FORCE_SQL).fetchall()
            if status == "loaded"}


def _loaded(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], str]:
    return {(sid, row): kind for kind, sid, row in con.execute(
        "select kind, submission_id, row_number from dq.accepted_rows_loaded").fetchall()}


def files_to_read(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The read stage's manifest entries of the files with accepted rows in force not yet loaded (none on most
    nights: one query)."""
    loaded = _loaded(con)
    sids = sorted({key[0] for key in _wanted(con) if key not in loaded})
    if not sids:
        return []
    rows = con.execute(f"select {', '.join(FILE_COLUMNS)} from dq.submission_files where list_contains(?, "
                       "submission_id) order by received_at, submission_id", [sids]).fetchall()
    return [dict(zip(FILE_COLUMNS, r, strict=True)) | {"received_at": r[6].isoformat(), "problem": None,
                                                     "note": None, "notes": []} for r in rows]


def apply(con: duckdb.DuckDBPyConnection, ledger: Ledger, batches: Callable[[str], Iterable[pa.Table]]
          ) -> AcceptedRows:
    """Inside the load transaction, after the run's files are recorded (`Ledger.flush`): take the rows no longer
    accepted out of the raw tables and insert the accepted rows in force that they lack, from `batches(kind)`
    (the rows of `files_to_read`, read by the read stage)."""
    wanted, loaded = _wanted(con), _loaded(con)
    out = AcceptedRows()
    for kind in SUBMISSION_KINDS:
        gone = [key for key, k in loaded.items() if k == kind and key not in wanted]
        if gone:
            con.register("accepted_gone", pa.table({"submission_id": [k[0] for k in gone],
                                                    "row_number": pa.array([k[1] for k in gone], pa.int64())}))
            try:
                con.execute(f"delete from raw.{kind} as r using accepted_gone as g "
                            "where r.submission_id = g.submission_id and r.row_number = g.row_number")
            finally:
                con.unregister("accepted_gone")
            out.removed += len(gone)
        missing = {key: received for key, (k, received) in wanted.items() if k == kind and key not in loaded}
        if not missing:
            continue
        files = {sid: received for (sid, _), received in missing.items()}
        before = ledger.rows_loaded
        for rows in batches(kind):
            out.inserted += ledger.insert_raw(kind, rows, files, [], warn=False, only=list(missing))
        ledger.rows_loaded = before  # the run's own loaded rows; accepted ones are counted apart
    if out.inserted or out.removed:
        log.info("accepted rows: %d loaded, %d taken out (reopened)", out.inserted, out.removed)
    return out
