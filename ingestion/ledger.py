"""Writes to the submission ledger, the quarantine and the raw tables, inside the load transaction.

The ledger is append-only: a file's facts are inserted once (`dq.submission_files`); each status it takes
(loaded, later superseded) is a new row of `dq.submission_status_log`. Facts, statuses and quarantined rows
are collected in memory and written with one statement per table (`flush`), and the accepted rows of all
files of a kind with one INSERT ... SELECT (`insert_raw`): a run of thousands of small files does not pay a
statement per file.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from foundation.template import DEFAULT_EVALUATION_STANDARD
from ingestion.discover import LandedFile

RAW_COLUMNS = {
    "buildings": ["unit_code", "period", "project_code", "project_name", "building_no", "permit_no", "start_date",
                  "building_use", "structure_system", "total_floor_area_m2", "prefab_floor_area_m2", "score_q1",
                  "score_q2", "score_q3", "score_q4", "assembly_rate_reported_pct", "evaluation_standard",
                  "full_decoration", "green_star", "developer", "remarks"],
    "production_bases": ["unit_code", "year", "base_name", "base_type", "design_capacity", "capacity_unit",
                         "commissioned_on", "status"],
    "targets": ["unit_code", "year", "target_prefab_floor_area_m2", "target_res_pub_floor_area_m2",
                "target_prefab_share_pct"],
}


# How each raw column is computed from the work rows (`r`, with the file's own context columns), where it
# is not the column of the same name.
RAW_EXPRESSIONS = {
    "buildings": {"period": "cast(r.period || '-01' as date)", "assembly_rate_reported_pct": "r.assembly_rate_pct",
                  "evaluation_standard": f"coalesce(r.evaluation_standard, '{DEFAULT_EVALUATION_STANDARD}')",
                  "green_star": "coalesce(r.green_star, 'none')"},
    "production_bases": {"year": "cast(r.file_period as integer)"},
    "targets": {},
}
_FILE_COLUMNS = [("submission_id", pa.string()), ("kind", pa.string()), ("unit_code", pa.string()),
                 ("period", pa.string()), ("file_name", pa.string()), ("landing_path", pa.string()),
                 ("sha256", pa.string()), ("size_bytes", pa.int64()), ("received_at", pa.timestamp("us")),
                 ("archived_path", pa.string()), ("rows_received", pa.int32()), ("rows_loaded", pa.int32()),
                 ("rows_quarantined", pa.int32()), ("rows_ignored", pa.int32()),
                 ("warnings", pa.list_(pa.string())), ("run_id", pa.string()), ("processed_at", pa.timestamp("us"))]
_LOG_COLUMNS = [("submission_id", pa.string()), ("status", pa.string()), ("reason", pa.string()),
                ("run_id", pa.string()), ("recorded_at", pa.timestamp("us"))]
_QUARANTINE_COLUMNS = [("submission_id", pa.string()), ("row_number", pa.int32()), ("raw", pa.string()),
                       ("reasons", pa.list_(pa.string())), ("run_id", pa.string()),
                       ("quarantined_at", pa.timestamp("us"))]

_IGNORED_COLUMNS = [("submission_id", pa.string()), ("row_number", pa.int32()), ("what", pa.string()),
                    ("text", pa.string()), ("run_id", pa.string()), ("recorded_at", pa.timestamp("us"))]


def _table(columns: list[tuple[str, pa.DataType]], rows: list[tuple]) -> pa.Table:
    return pa.table({name: pa.array([r[i] for r in rows], type=t) for i, (name, t) in enumerate(columns)})


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Ledger:
    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str):
        self.con, self.run_id = con, run_id
        self.statuses: dict[str, str] = {}
        self.rows_loaded = self.rows_quarantined = 0
        self._files: list[tuple] = []
        self._statuses: list[tuple] = []
        self._quarantined: list[tuple] = []
        self._ignored: list[tuple] = []
        self._known = {r[0] for r in con.execute("select submission_id from dq.submission_files").fetchall()}
        self._shas = {tuple(r[:4]): (r[4], r[5]) for r in con.execute(
            "select sha256, kind, unit_code, period, min(submission_id), min(file_name) from dq.submission_files "
            "group by all").fetchall()}
        self._slices = {(r[0], r[1], r[2]): (r[3], r[4]) for r in con.execute(
            "select kind, unit_code, period, submission_id, received_at from dq.submission_ledger "
            "where status = 'loaded'").fetchall()}

    def known(self, submission_id: str) -> bool:
        return submission_id in self._known

    def same_bytes(self, sha256: str, kind: str, unit_code: str | None, period: str | None) -> tuple[str, str] | None:
        """The earlier submission with these bytes for the same kind, unit and period, if any. (Two units'
        zero reports, or a base registry unchanged from last year, can be byte-identical and still be
        different submissions.)"""
        if unit_code is None or period is None:
            return None  # a file whose name says no unit and period is judged on its own
        return self._shas.get((sha256, kind, unit_code, period))

    def record(self, landed: LandedFile, base: dict, status: str, reason: str | None,
               rows: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
        sid = landed.submission_id
        self._files.append((sid, base["kind"], base["unit_code"], base["period"], landed.file_name,
                            landed.landing_path, landed.sha256, landed.size_bytes, landed.received_at,
                            base["archived_path"], *rows, base["warnings"], self.run_id, _now()))
        self._log(sid, status, reason)
        self._known.add(sid)
        self._shas.setdefault((landed.sha256, base["kind"], base["unit_code"], base["period"]),
                              (sid, landed.file_name))

    def _log(self, submission_id: str, status: str, reason: str | None) -> None:
        self._statuses.append((submission_id, status, reason, self.run_id, _now()))
        self.statuses[submission_id] = status

    def supersede(self, submission_id: str, reason: str) -> None:
        self._log(submission_id, "superseded", reason)

    def quarantine(self, submission_id: str, rows: list[tuple[int, str, list[str]]]) -> None:
        now = _now()
        self._quarantined += [(submission_id, r[0], r[1], r[2], self.run_id, now) for r in rows]
        self.rows_quarantined += len(rows)

    def ignore(self, submission_id: str, rows: list[dict]) -> None:
        """Keep a file's ignored rows (`IgnoredRow` as dicts: row_number, what, text)."""
        now = _now()
        self._ignored += [(submission_id, r["row_number"], r["what"], r["text"], self.run_id, now) for r in rows]

    def flush(self) -> None:
        """Write the collected facts, statuses, quarantined and ignored rows (inside the caller's
        transaction)."""
        for table, columns, rows in (("dq.submission_files", _FILE_COLUMNS, self._files),
                                     ("dq.submission_status_log", _LOG_COLUMNS, self._statuses),
                                     ("dq.quarantine", _QUARANTINE_COLUMNS, self._quarantined),
                                     ("dq.ignored_rows", _IGNORED_COLUMNS, self._ignored)):
            if not rows:
                continue
            self.con.register("ledger_batch", _table(columns, rows))
            self.con.execute(f"insert into {table} select {', '.join(c for c, _ in columns)} from ledger_batch")
            self.con.unregister("ledger_batch")
            rows.clear()

    def take_slice(self, landed: LandedFile, kind: str, unit_code: str, period: str) -> bool:
        """Make this file the one loaded for (kind, unit, period) unless a later one already is; the rows
        of the file it replaces leave the raw table. Returns whether this file's rows are to be loaded."""
        key = (kind, unit_code, period)
        current = self._slices.get(key)
        if current and (current[1], current[0]) > (landed.received_at, landed.submission_id):
            return False
        if current:
            self.con.execute(f"delete from raw.{kind} where submission_id = ?", [current[0]])
            self.supersede(current[0], f"superseded by the later file '{landed.file_name}' "
                                       f"(submission {landed.submission_id})")
        self._slices[key] = (landed.submission_id, landed.received_at)
        return True

    def slice_holder(self, key: tuple[str, str, str]) -> str | None:
        """The submission whose rows are loaded for (kind, unit, period), as this transaction stands."""
        current = self._slices.get(key)
        return current[0] if current else None

    def insert_raw(self, kind: str, rows: pa.Table, accepted: dict[str, datetime],
                   rejected_rows: list[tuple[str, int]]) -> int:
        """Insert the work rows of the `accepted` files (submission id -> received at) but the rejected
        (quarantined) ones, with one statement; returns the number of rows inserted."""
        if not accepted or rows.num_rows == 0:
            return 0
        files = pa.table({"submission_id": pa.array(list(accepted), pa.string()),
                          "received_at": pa.array(list(accepted.values()), pa.timestamp("us"))})
        bad = pa.table({"submission_id": pa.array([k[0] for k in rejected_rows], pa.string()),
                        "row_number": pa.array([k[1] for k in rejected_rows], pa.int64())})
        exprs = RAW_EXPRESSIONS[kind]
        cols = ["submission_id", "row_number", *RAW_COLUMNS[kind]]
        select = ", ".join(f"{exprs[c]} as {c}" if c in exprs else f"r.{c}" for c in cols)
        for name, table in (("raw_batch", rows), ("raw_files", files), ("raw_rejected", bad)):
            self.con.register(name, table)
        try:
            inserted = self.con.execute(
                f"insert into raw.{kind} ({', '.join(cols)}, received_at, loaded_at) "
                f"select {select}, f.received_at, ? from raw_batch r join raw_files f using (submission_id) "
                "anti join raw_rejected q on q.submission_id = r.submission_id and q.row_number = r.row_number",
                [_now()]).fetchone()[0]
        finally:
            for name in ("raw_batch", "raw_files", "raw_rejected"):
                self.con.unregister(name)
        self.rows_loaded += inserted
        return inserted

    def record_checks(self, results: list[dict], stage: str) -> None:
        now = _now()
        for r in results:
            self.con.execute("insert into dq.check_results values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [self.run_id, r["check_name"], stage, r["severity"], r["status"],
                              r["failing_rows"], r["detail"], now, r.get("report_url")])
