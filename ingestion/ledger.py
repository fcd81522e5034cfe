"""Writes to the submission ledger, the quarantine and the raw tables, inside the load transaction.

The ledger is append-only: a file's facts are inserted once (`dq.submission_files`); each status it takes
(loaded, later superseded) is a new row of `dq.submission_status_log`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd

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


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Ledger:
    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str):
        self.con, self.run_id = con, run_id
        self.statuses: dict[str, str] = {}
        self.rows_loaded = self.rows_quarantined = 0
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
        self.con.execute(
            "insert into dq.submission_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sid, base["kind"], base["unit_code"], base["period"], landed.file_name, landed.landing_path,
             landed.sha256, landed.size_bytes, landed.received_at, base["archived_path"], *rows,
             base["warnings"], self.run_id, _now()])
        self._log(sid, status, reason)
        self._known.add(sid)
        self._shas.setdefault((landed.sha256, base["kind"], base["unit_code"], base["period"]),
                              (sid, landed.file_name))

    def _log(self, submission_id: str, status: str, reason: str | None) -> None:
        self.con.execute("insert into dq.submission_status_log values (?, ?, ?, ?, ?)",
                         [submission_id, status, reason, self.run_id, _now()])
        self.statuses[submission_id] = status

    def supersede(self, submission_id: str, reason: str) -> None:
        self._log(submission_id, "superseded", reason)

    def quarantine(self, submission_id: str, rows: list[tuple[int, str, list[str]]]) -> None:
        frame = pd.DataFrame({"submission_id": submission_id, "row_number": [r[0] for r in rows],
                              "raw": [r[1] for r in rows], "reasons": [r[2] for r in rows]})
        self.con.register("quarantine_batch", frame)
        self.con.execute("insert into dq.quarantine select submission_id, row_number, raw, reasons, ?, ? "
                         "from quarantine_batch", [self.run_id, _now()])
        self.con.unregister("quarantine_batch")
        self.rows_quarantined += len(rows)

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

    def insert_raw(self, kind: str, rows: pd.DataFrame, received_at: datetime) -> None:
        if rows.empty:
            return
        self.con.register("raw_batch", rows)
        cols = ", ".join(["submission_id", "row_number", *RAW_COLUMNS[kind]])
        self.con.execute(f"insert into raw.{kind} ({cols}, received_at, loaded_at) "
                         f"select {cols}, ?, ? from raw_batch", [received_at, _now()])
        self.con.unregister("raw_batch")

    def record_checks(self, results: list[dict], stage: str) -> None:
        now = _now()
        for r in results:
            self.con.execute("insert into dq.check_results values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [self.run_id, r["check_name"], stage, r["severity"], r["status"],
                              r["failing_rows"], r["detail"], now, r.get("report_url")])
