"""What the steward pages read from `warehouse.duckdb`: every query parameterised, one short connection each.

DuckDB lets one process write a file or many read it, never both. While the nightly run writes the warehouse
it holds the warehouse lock (foundation/lock.py); the app takes the same lock *shared* for the few milliseconds
of a read (`reader_lock`, waiting at most `READ_LOCK_WAIT_SECONDS`), so pages never exclude each other, a page
never breaks a run's write and a run never breaks a page: the run waits for the pages, and a page that cannot
get the lock says so (WarehouseBusy -> HTTP 503). Read-only DuckDB connections of one process to one file
coexist (they share one database instance).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import duckdb

from expectations.rules import may_override
from foundation.config import Settings
from foundation.db import connect_warehouse
from foundation.lock import reader_lock, warehouse_lock

READ_LOCK_WAIT_SECONDS = 2.0
LEDGER_STATUSES = ("loaded", "rejected", "superseded", "duplicate")
PAGE_ROWS = 500


@contextmanager
def reading(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse, held under the shared warehouse lock for the block's duration
    (the exclusive one on a fresh install, where this first reader creates the file)."""
    if settings.warehouse_path.exists():
        lock = reader_lock(settings, wait_seconds=READ_LOCK_WAIT_SECONDS)
    else:
        lock = warehouse_lock(settings, owner="steward web app (creating the warehouse)",
                              wait_seconds=READ_LOCK_WAIT_SECONDS)
    with lock, connect_warehouse(settings, read_only=True) as con:
        yield con


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, table]).fetchone()[0])


RUNS_SQL = """
with runs as (
    select run_id, min(processed_at) as at from dq.submission_files group by run_id
    union all
    select run_id, min(checked_at) from dq.check_results group by run_id
    union all
    select run_id, min(published_at) from dq.publication_log group by run_id
), gate as (
    select run_id, count(*) as gate_checks,
        count(*) filter (where severity = 'error' and status = 'fail') as gate_failed,
        count(*) filter (where severity = 'error' and status = 'fail' and waived_by is not null) as gate_waived
    from dq.check_results where stage = 'gate' group by run_id
), files as (
    select run_id, count(*) as files, sum(rows_loaded) as rows_loaded, sum(rows_quarantined) as rows_quarantined
    from dq.submission_files group by run_id
)
select r.run_id, min(r.at) as started_at, coalesce(any_value(f.files), 0) as files,
    coalesce(any_value(f.rows_loaded), 0) as rows_loaded, coalesce(any_value(f.rows_quarantined), 0)
        as rows_quarantined,
    any_value(g.gate_checks) as gate_checks, any_value(g.gate_failed) as gate_failed,
    any_value(g.gate_waived) as gate_waived, any_value(p.publication_id) as publication_id,
    any_value(p.published_at) as published_at
from runs as r
left join gate as g on g.run_id = r.run_id
left join files as f on f.run_id = r.run_id
left join dq.publication_log as p on p.run_id = r.run_id
where ?::varchar is null or r.run_id = ?
group by r.run_id
order by started_at desc
limit ?
"""


def latest_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[dict]:
    """The latest runs, newest first, with what they loaded, how their gate went and whether they published."""
    runs = _dicts(con.execute(RUNS_SQL, [None, None, limit]))
    for r in runs:
        r["outcome"] = run_outcome(r)
    return runs


def run_outcome(run: dict) -> str:
    if run["publication_id"] is not None:
        return "published"
    if run["gate_checks"] is None:
        return "no gate"
    if run["gate_failed"] and run["gate_failed"] > run["gate_waived"]:
        return "blocked"
    return "not published"


def run_detail(con: duckdb.DuckDBPyConnection, run_id: str) -> dict | None:
    runs = _dicts(con.execute(RUNS_SQL, [run_id, run_id, 1]))
    if not runs:
        return None
    run = runs[0]
    run["outcome"] = run_outcome(run)
    run["checks"] = _dicts(con.execute("""
        select check_name, stage, severity, status, failing_rows, detail, checked_at, report_url, waived_by,
            waiver_review_id
        from dq.check_results where run_id = ?
        order by stage = 'gate' desc, status = 'fail' desc, severity, check_name""", [run_id]))
    run["submissions"] = _dicts(con.execute("""
        select submission_id, kind, unit_code, period, file_name, status, reason, rows_received, rows_loaded,
            rows_quarantined, rows_ignored
        from dq.submission_ledger where run_id = ? order by kind, unit_code, period, file_name""", [run_id]))
    return run


def ledger(con: duckdb.DuckDBPyConnection, unit: str | None = None, period: str | None = None,
           status: str | None = None, kind: str | None = None, limit: int = PAGE_ROWS, *, run: str | None = None,
           quarantined: bool = False, warnings: bool = False, reason: str | None = None,
           row_reason: str | None = None, unit_codes: list[str] | None = None) -> list[dict]:
    """The submission ledger, newest first, filtered by unit code (prefix), period (prefix), status, kind, run,
    having quarantined rows, having warnings, a reason containing a text (the file's own, or one of its
    quarantined rows'), a quarantined row's reason naming a field (`row_reason`), and a set of unit codes
    (a unit level)."""
    where, params = [], []
    for condition, value in (("starts_with(unit_code, ?)", unit), ("starts_with(period, ?)", period),
                             ("status = ?", status), ("kind = ?", kind), ("run_id = ?", run)):
        if value:
            where.append(condition)
            params.append(value)
    if quarantined:
        where.append("rows_quarantined > 0")
    if warnings:
        where.append("len(coalesce(warnings, []::varchar[])) > 0")
    if reason:
        where.append("(contains(lower(coalesce(reason, '')), lower(?)) or exists (select 1 from dq.quarantine as q "
                     "where q.submission_id = l.submission_id and contains(lower(array_to_string(q.reasons, ' ')), "
                     "lower(?))))")
        params += [reason, reason]
    if row_reason:
        where.append("exists (select 1 from dq.quarantine as q where q.submission_id = l.submission_id "
                     "and contains(array_to_string(q.reasons, ' '), ?))")
        params.append(row_reason)
    if unit_codes is not None:
        where.append("list_contains(?, unit_code)")
        params.append(unit_codes)
    sql = ("select submission_id, kind, unit_code, period, file_name, received_at, status, reason, rows_received, "
           "rows_loaded, rows_quarantined, rows_ignored, run_id, len(coalesce(warnings, []::varchar[])) as warnings "
           "from dq.submission_ledger as l"
           + (" where " + " and ".join(where) if where else "")
           + " order by received_at desc, submission_id desc limit ?")
    return _dicts(con.execute(sql, [*params, limit]))


def submission(con: duckdb.DuckDBPyConnection, submission_id: str) -> dict | None:
    rows = _dicts(con.execute("""
        select submission_id, kind, unit_code, period, file_name, sha256, size_bytes, received_at, status, reason,
            rows_received, rows_loaded, rows_quarantined, rows_ignored, run_id, warnings
        from dq.submission_ledger where submission_id = ?""", [submission_id]))
    return rows[0] if rows else None


def quarantined_rows(con: duckdb.DuckDBPyConnection, submission_id: str) -> list[dict]:
    """The submission's quarantined rows with the raw values (parsed from the stored JSON), reasons, the rules
    they fail and whether a steward may accept them (`acceptable`)."""
    rows = _dicts(con.execute("""
        select q.*, f.kind
        from dq.quarantined_rows as q join dq.submission_files as f using (submission_id)
        where q.submission_id = ? order by q.row_number""", [submission_id]))
    for r in rows:
        # whether a steward may accept and load it: every rule it fails is overridable (expectations.rules); a
        # warehouse no writer has brought up to date since the rules were kept has no `rules` column yet
        r["acceptable"] = may_override(r.pop("kind"), r.get("rules"))
        try:
            r["values"] = json.loads(r["raw"])
        except ValueError:
            r["values"] = {"(raw text)": r["raw"]}
    return rows


def reviews_of_submission(con: duckdb.DuckDBPyConnection, submission_id: str) -> list[dict]:
    """Decisions on the submission and on its rows, newest first."""
    return _dicts(con.execute("""
        select review_id, reviewed_at, reviewer, target_type, target_id, decision, note from dq.steward_reviews
        where (target_type = 'submission' and target_id = ?)
           or (target_type = 'quarantined_row' and starts_with(target_id, ? || ':'))
        order by reviewed_at desc, review_id desc""", [submission_id, submission_id]))


def missing_submissions(con: duckdb.DuckDBPyConnection, today: date, year: int | None = None) -> dict:
    """The missing-submissions calendar of one year (default: the latest year in which a file arrived), units
    grouped by city, with only the months that are due: a month's file is due once the month has ended
    (before `today`'s month)."""
    empty = {"built": True, "years": [], "year": None, "months": [], "cities": []}
    if not _has_table(con, "dq", "missing_submissions"):
        return {**empty, "built": False}
    due = date(today.year, today.month, 1)
    years = [r[0] for r in con.execute("select distinct year(month) from dq.missing_submissions where month < ? "
                                       "order by 1 desc", [due]).fetchall()]
    if not years:
        return empty
    with_data = con.execute("select max(year(month)) from dq.missing_submissions where month < ? and has_arrived",
                            [due]).fetchone()[0]
    year = year if year in years else (with_data or years[0])
    cells = _dicts(con.execute("""
        select unit_code, unit_name_zh, unit_level, city_code, month, is_missing, latest_submission_id,
            rejected_file_count, latest_is_zero_report
        from dq.missing_submissions where year(month) = ? and month < ? order by city_code, unit_code, month""",
                               [year, due]))
    months = sorted({c["month"] for c in cells})  # the due months the calendar covers (from the first file on)
    cities: dict[str | None, dict] = {}
    for c in cells:
        city = cities.setdefault(c["city_code"], {"city_code": c["city_code"], "units": {}, "missing": 0})
        u = city["units"].setdefault(c["unit_code"], {"unit_code": c["unit_code"], "unit_name_zh": c["unit_name_zh"],
                                                      "cells": {}, "missing": 0})
        u["cells"][c["month"]] = c
        u["missing"] += bool(c["is_missing"])
        city["missing"] += bool(c["is_missing"])
    for city in cities.values():
        city["units"] = list(city["units"].values())
    return {"built": True, "years": years, "year": year, "months": months, "cities": list(cities.values())}
