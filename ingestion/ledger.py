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

from foundation.bilingual import join
from foundation.raw_schema import RAW_TABLES, row_columns
from foundation.template import DEFAULT_EVALUATION_STANDARD
from ingestion.discover import LandedFile

# The columns a submission's rows fill in each raw table (without submission_id, row_number and the stamps).
RAW_COLUMNS = {kind: [c.name for c in row_columns(kind)] for kind in RAW_TABLES}


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
_WARNINGS = [c for c, _ in _FILE_COLUMNS].index("warnings")
_LOG_COLUMNS = [("submission_id", pa.string()), ("status", pa.string()), ("reason", pa.string()),
                ("run_id", pa.string()), ("recorded_at", pa.timestamp("us"))]
_QUARANTINE_COLUMNS = [("submission_id", pa.string()), ("row_number", pa.int32()), ("raw", pa.string()),
                       ("reasons", pa.list_(pa.string())), ("run_id", pa.string()),
                       ("quarantined_at", pa.timestamp("us")), ("rules", pa.list_(pa.string()))]

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
        self._file_index: dict[str, int] = {}  # submission id -> its row in _files, until flushed
        self._statuses: list[tuple] = []
        self._quarantined: list[tuple] = []
        self._ignored: list[tuple] = []
        self._known = {r[0] for r in con.execute("select submission_id from dq.submission_files").fetchall()}
        # (kind, unit, period) -> (submission id, received at, sha256, file name) of the file loaded for it
        self._slices = {(r[0], r[1], r[2]): tuple(r[3:]) for r in con.execute(
            "select kind, unit_code, period, submission_id, received_at, sha256, file_name from dq.submission_ledger "
            "where status = 'loaded'").fetchall()}
        self._slice_of: dict[str, tuple[str, str, str]] | None = None  # holder -> its slice, for `release`

    def known(self, submission_id: str) -> bool:
        return submission_id in self._known

    def same_bytes(self, sha256: str, kind: str, unit_code: str | None, period: str | None) -> tuple[str, str] | None:
        """(submission id, file name) of the file loaded for this kind, unit and period if it has these very
        bytes: a duplicate, which changes nothing. Bytes equal to an earlier file that a correction has since
        replaced are not a duplicate but a new submission (the county takes the correction back), and two
        units' zero reports, or a base registry unchanged from last year, can be byte-identical and still be
        different submissions."""
        if unit_code is None or period is None:
            return None  # a file whose name says no unit and period is judged on its own
        current = self._slices.get((kind, unit_code, period))
        return (current[0], current[3]) if current and current[2] == sha256 else None

    def record(self, landed: LandedFile, base: dict, status: str, reason: str | None,
               rows: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
        sid = landed.submission_id
        self._file_index[sid] = len(self._files)
        self._files.append((sid, base["kind"], base["unit_code"], base["period"], landed.file_name,
                            landed.landing_path, landed.sha256, landed.size_bytes, landed.received_at,
                            base["archived_path"], *rows, list(base["warnings"]), self.run_id, _now()))
        self._log(sid, status, reason)
        self._known.add(sid)

    def _log(self, submission_id: str, status: str, reason: str | None) -> None:
        self._statuses.append((submission_id, status, reason, self.run_id, _now()))
        self.statuses[submission_id] = status

    def supersede(self, submission_id: str, reason: str) -> None:
        self._log(submission_id, "superseded", reason)

    def quarantine(self, submission_id: str, rows: list[tuple[int, str, list[str], list[str] | None]]) -> None:
        """Quarantine rows: (row number, raw JSON, reasons, the names of the rules failed; None if unknown)."""
        now = _now()
        self._quarantined += [(submission_id, r[0], r[1], r[2], self.run_id, now, r[3]) for r in rows]
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
        self._file_index.clear()

    def warn(self, submission_id: str, warning: str) -> None:
        """Add a warning to a file recorded in this transaction and not yet flushed."""
        self._files[self._file_index[submission_id]][_WARNINGS].append(warning)

    def take_slice(self, landed: LandedFile, kind: str, unit_code: str, period: str) -> bool:
        """Make this file the one loaded for (kind, unit, period) unless a later one already is; the rows
        of the file it replaces leave the raw table. Returns whether this file's rows are to be loaded."""
        key = (kind, unit_code, period)
        current = self._slices.get(key)
        if current and (current[1], current[0]) > (landed.received_at, landed.submission_id):
            return False
        if current:
            self.con.execute(f"delete from raw.{kind} where submission_id = ?", [current[0]])
            self.supersede(current[0], join(f"已被之后报送的文件“{landed.file_name}”（报送 {landed.submission_id}）"
                                            "取代，本文件的数据不再使用",
                                            f"superseded by the later file '{landed.file_name}' "
                                            f"(submission {landed.submission_id})"))
        self._slices[key] = (landed.submission_id, landed.received_at, landed.sha256, landed.file_name)
        return True

    def release(self, submission_id: str, reason: str) -> None:
        """The file gives way to its reprocessing (`ingestion.reprocess`): superseded, with the reason (a new
        status row: the ledger stays append-only), its rows leave the raw table and its slice is free for the
        reprocessed version. Call before any `take_slice` of the transaction (the index of holders is built once)."""
        self.supersede(submission_id, reason)
        if self._slice_of is None:
            self._slice_of = {holder[0]: key for key, holder in self._slices.items()}
        key = self._slice_of.pop(submission_id, None)
        if key is not None:
            self.con.execute(f"delete from raw.{key[0]} where submission_id = ?", [submission_id])
            del self._slices[key]

    def slice_holder(self, key: tuple[str, str, str]) -> str | None:
        """The submission whose rows are loaded for (kind, unit, period), as this transaction stands."""
        current = self._slices.get(key)
        return current[0] if current else None

    def insert_raw(self, kind: str, rows: pa.Table, accepted: dict[str, datetime],
                   rejected_rows: list[tuple[str, int]], warn: bool = True,
                   only: list[tuple[str, int]] | None = None) -> int:
        """Insert the work rows of the `accepted` files (submission id -> received at) but the rejected
        (quarantined) ones, with one statement; returns the number of rows inserted. Without `warn` (rows
        re-read for files the ledger already records: `ingestion.rebuild`) no warnings are added. With `only`
        (the rows a steward accepted: `ingestion.accepted`), those rows alone are inserted."""
        if not accepted or rows.num_rows == 0:
            return 0
        files = pa.table({"submission_id": pa.array(list(accepted), pa.string()),
                          "received_at": pa.array(list(accepted.values()), pa.timestamp("us"))})
        keys = rejected_rows if only is None else only
        bad = pa.table({"submission_id": pa.array([k[0] for k in keys], pa.string()),
                        "row_number": pa.array([k[1] for k in keys], pa.int64())})
        exprs = RAW_EXPRESSIONS[kind]
        cols = ["submission_id", "row_number", *RAW_COLUMNS[kind]]
        select = ", ".join(f"{exprs[c]} as {c}" if c in exprs else f"r.{c}" for c in cols)
        for name, table in (("raw_batch", rows), ("raw_files", files), ("raw_rejected", bad)):
            self.con.register(name, table)
        try:
            inserted = self.con.execute(
                f"insert into raw.{kind} ({', '.join(cols)}, received_at, loaded_at) "
                f"select {select}, f.received_at, ? from raw_batch r join raw_files f using (submission_id) "
                f"{'anti' if only is None else 'semi'} join raw_rejected q on q.submission_id = r.submission_id "
                "and q.row_number = r.row_number",
                [_now()]).fetchone()[0]
            if kind == "buildings" and warn:
                self._warn_reported_before()
        finally:
            for name in ("raw_batch", "raw_files", "raw_rejected"):
                self.con.unregister(name)
        self.rows_loaded += inserted
        return inserted

    def _warn_reported_before(self) -> None:
        """Warn each file of the batch just inserted whose buildings (project_code, building_no) are already
        loaded from another unit's or period's file: on the later file (received later, or of an earlier
        run or batch), naming the earlier one. One query for the batch; the files of this run are named from
        the ledger rows not yet flushed."""
        run_files = pa.table({"submission_id": pa.array([f[0] for f in self._files], pa.string()),
                              "file_name": pa.array([f[4] for f in self._files], pa.string())})
        self.con.register("run_files", run_files)
        try:
            pairs = self.con.execute("""
                with batch as (select distinct submission_id from raw_batch join raw_files using (submission_id)),
                later as (select b.* from raw.buildings b join batch using (submission_id)),
                names as (select submission_id, file_name from dq.submission_files
                          union all select submission_id, file_name from run_files)
                select l.submission_id, e.submission_id, n.file_name, e.unit_code, strftime(e.period, '%Y-%m'),
                    count(*), list(l.project_code || ' ' || l.building_no order by l.row_number)[1:3]
                from later l
                join raw.buildings e on e.project_code = l.project_code and e.building_no = l.building_no
                    and (e.unit_code <> l.unit_code or e.period <> l.period)
                    and (e.submission_id not in (select submission_id from batch)
                         or e.received_at < l.received_at
                         or (e.received_at = l.received_at and e.submission_id < l.submission_id))
                join names n on n.submission_id = e.submission_id
                group by all
                order by 1, min(e.received_at), 2""").fetchall()
        finally:
            self.con.unregister("run_files")
        for sid, earlier, name, unit, period, n, shown in pairs:
            more = f" and {n - len(shown)} more" if n > len(shown) else ""
            more_zh = f" 等 {n} 个" if n > len(shown) else ""
            self.warn(sid, join(f"本文件有 {n} 个单体已在“{name}”（单位 {unit}，期间 {period}，报送 {earlier}）"
                                f"中报送过：项目代码 单体编号 {'、'.join(shown)}{more_zh}；一个单体只在其开工的月份"
                                "报送一次：如果是同一批单体，请从其中一个文件中删除（按较晚的文件计一次）",
                                f"{n} building(s) of this file already reported in '{name}' (unit {unit}, period "
                                f"{period}, submission {earlier}): 项目代码 单体编号 project_code building_no "
                                f"{', '.join(shown)}{more}; a building is reported once, in the month it started: "
                                "if they are the same buildings, remove them from one of the files (they are "
                                "counted once, from the later file)"))

    def record_checks(self, results: list[dict], stage: str) -> None:
        now = _now()
        for r in results:
            self.con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, "
                             "failing_rows, detail, checked_at, report_url) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [self.run_id, r["check_name"], stage, r["severity"], r["status"],
                              r["failing_rows"], r["detail"], now, r.get("report_url")])
