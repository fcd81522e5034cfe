"""Publication of the `reporting` database analysts read: write, audit, then publish atomically.

The candidate marts (built by dbt in `warehouse.duckdb`, schema `marts`) are written into a new DuckDB file
(whole, or from a copy of the published file with only what changed written: `publishing.file_delta`),
checkpointed and closed, then renamed over `reporting.duckdb`. Readers connected during the swap keep the
old file; new connections see the new one. Nothing ever opens `reporting.duckdb` for writing, so an analyst
holding it open never blocks a run. A candidate identical to what is published is not published again.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from foundation.config import Settings
from foundation.db import DUCKDB_CONFIG, connect_warehouse
from foundation.journal import PUBLICATION_TABLES
from foundation.journal import sync as sync_journal
from publishing import file_delta, retention
from publishing.describe import comment_statements, table_docs
from publishing.postgres import complete_postgres

# The label dimensions: one per coded column (dim_<column>; the two `status` columns as dim_base_status and
# dim_submission_status), each listing code, name_zh, name_en (dbt_project/models/marts/_marts__labels.yml).
LABEL_TABLES = ("dim_building_use", "dim_structure_system", "dim_green_star", "dim_grade", "dim_base_type",
                "dim_base_status", "dim_capacity_unit", "dim_submission_status")
REPORTING_TABLES = ("dim_reporting_unit", "fct_building", "fct_prefab_floor_area_monthly", "fct_indicators_daily",
                    "fct_production_bases", "fct_submission_status", *LABEL_TABLES)
# Everything the file holds: the candidate marts, and the publication log.
PUBLISHED_TABLES = (*REPORTING_TABLES, "publication")
# Each published table is written in the order of analysts' usual filters: DuckDB skips the row groups whose
# min/max exclude a filter value, so "every unit on a date" reads one date's row groups, not the whole table.
PUBLISHED_ORDER = {
    "dim_reporting_unit": ("unit_code",),
    "fct_building": ("start_date", "unit_code", "project_code", "building_no"),  # (project_code, building_no) unique
    "fct_prefab_floor_area_monthly": ("unit_code", "month", "building_use", "structure_system"),
    "fct_indicators_daily": ("as_of_date", "unit_code"),
    "fct_production_bases": ("unit_code", "year", "base_type", "status", "capacity_unit"),
    "fct_submission_status": ("month", "unit_code"),
    **{t: ("sort_order", "code") for t in LABEL_TABLES},  # the codes in their enumeration's order
}
CANDIDATE_SCHEMA = "marts"
# The storage format reporting.duckdb is written in: the oldest that DuckDB 1.x clients read, so analysts need not
# run DuckDB 2.0 (whose default format, version 69, the 1.5 CLI and DBeaver's driver refuse). 'v0.10.0' is the
# oldest format any current DuckDB writes (older names write the same file) and keeps every published type
# (DECIMAL, DATE, TIMESTAMP, VARCHAR, BOOLEAN, INTEGER, BIGINT). Measured: DuckDB 0.10.3, 1.0.0, 1.1.3 (Python)
# and the 1.5.6 CLI read it; 0.9.2 cannot (0.10 changed the serialization), nor can 0.10.0, 0.10.1 and 0.10.2
# ("Failed to deserialize: field id mismatch, expected: 201, got: 109", measured December 2026 with or without
# comments); files written as 'v1.2.0' or newer are refused by 1.1 and older. So it covers DuckDB
# CLI/Python/JDBC >= 0.10.3 (released May 2024; DBeaver with such a driver, not measured). The tables' and
# columns' comments (publishing/describe.py) are kept in this format and read by all of those. The cost: older
# compression, about 16 % more bytes; contents are unchanged.
STORAGE_VERSION = "v0.10.0"
log = logging.getLogger(__name__)


@dataclass
class Publication:
    """The publish stage's record (JSON-ready: the DAG's task returns it as its XCom)."""

    published: bool
    publication_id: int | None
    content_checksum: str
    path: str  # the published file
    reason: str
    swap_seconds: float | None = None  # the rename of the closed new file over the published one
    postgres: str | None = None  # what the PostgreSQL target got (None: none configured; publishing.postgres)
    # How the file was written: whole, or from the published file with what was changed (publishing/file_delta.py)
    written: str | None = None


# The run's gate results (the latest evaluation, should the gate have run twice for the run): passed, warned.
GATE_COUNTS_SQL = """
select
    count(*) filter (where status = 'pass') as passed,
    count(*) filter (where status = 'warn') as warned
from dq.check_results
where
    run_id = $run_id
    and stage = 'gate'
    and checked_at = (
        select max(checked_at) from dq.check_results
        where run_id = $run_id and stage = 'gate'
    )
"""


def gate_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, int]:
    """(checks passed, checks warned) of the run's gate, as recorded in `dq.check_results`: what the
    publication records. A failed check (waived, or the gate would have blocked) counts in neither."""
    passed, warned = con.execute(GATE_COUNTS_SQL, {"run_id": run_id}).fetchone()
    return passed, warned


# The failing gate checks of the run's latest gate evaluation that a steward's waiver let through.
GATE_WAIVERS_SQL = """
select
    count(*) as waived,
    string_agg(check_name || ' (waived by ' || waived_by || ')', '; ' order by check_name) as waived_checks
from dq.check_results
where
    run_id = $run_id
    and stage = 'gate'
    and status = 'fail'
    and waived_by is not null
    and checked_at = (
        select max(checked_at) from dq.check_results
        where run_id = $run_id and stage = 'gate'
    )
"""


def gate_waivers(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, str | None]:
    """(checks waived, their names with who waived each) of the run's gate, from `dq.check_results.waived_by`:
    e.g. (1, 'gx.reconciliation_prefab_floor_area (waived by wang.steward)'); (0, None) for a clean gate."""
    waived, names = con.execute(GATE_WAIVERS_SQL, {"run_id": run_id}).fetchone()
    return waived, names


def content_checksum(con: duckdb.DuckDBPyConnection, schema: str) -> str:
    """Order-independent checksum of the reporting tables' contents (row hashes summed per table)."""
    parts = []
    for t in REPORTING_TABLES:
        count, total = con.execute(f"select count(*), coalesce(sum(hash(t)), 0) from {schema}.{t} as t").fetchone()
        parts.append(f"{t}:{count}:{total}")
    return "|".join(parts)


def _order_by(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The ORDER BY of a published table: its PUBLISHED_ORDER columns that the candidate has."""
    have = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [CANDIDATE_SCHEMA, table]).fetchall()}
    columns = [c for c in PUBLISHED_ORDER[table] if c in have]
    return f"order by {', '.join(columns)}" if columns else ""


# The comments of the tables and columns of a database's main schema (column '' for the table's own).
COMMENTS_SQL = """
select table_name, '' as column_name, comment from duckdb_tables()
where database_name = $db and schema_name = 'main'
union all
select table_name, column_name, comment from duckdb_columns()
where database_name = $db and schema_name = 'main'
"""


def file_comments(con: duckdb.DuckDBPyConnection, database: str) -> dict[tuple[str, str], str | None]:
    """Every (table, column) of the database's main schema with its comment (None: none), keyed as COMMENTS_SQL."""
    return {(t, c): text for t, c, text in con.execute(COMMENTS_SQL, {"db": database}).fetchall()}


def expected_comments(settings: Settings) -> dict[tuple[str, str], str]:
    """The comments a publication gives its tables and columns (`publishing.describe`), keyed as COMMENTS_SQL."""
    docs = table_docs(PUBLISHED_TABLES, settings.dbt_project_dir)
    return {(t, c): text for t, d in docs.items() for c, text in (("", d.description), *d.columns.items())}


def _live_publication(path: Path) -> tuple[str | None, list[dict], dict[tuple[str, str], str]]:
    """(checksum, publication rows by column name, comments) of the published file, read-only; (None, [], {})
    if there is none. By name: a file published before `checks_waived`/`waived_checks` existed has fewer
    columns."""
    if not path.exists():
        return None, [], {}
    if retention.damaged(path):  # would fail every publication from now on: set aside, publish anew
        retention.set_aside(path, "it does not open as a DuckDB database")
        return None, [], {}
    con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
    try:
        cursor = con.execute("select * from main.publication order by publication_id")
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
        checksum = content_checksum(con, "main") if _has_tables(con, REPORTING_TABLES) else None
        comments = file_comments(con, current_database(con))
    finally:
        con.close()
    return checksum, rows, comments


def _has_tables(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> bool:
    """Whether the file holds every one of `tables` (a file published before a table existed does not)."""
    have = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    return set(tables) <= have


def _insert_publication(con: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    con.execute(f"insert into {table} ({', '.join(row)}) values ({', '.join('?' * len(row))})", list(row.values()))


def _remove_stale_wal(path: Path) -> None:
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        wal.unlink()


def publish(settings: Settings, run_id: str, checks_passed: int | None = None,
            checks_warned: int | None = None) -> Publication:
    """The publish stage: the file (`publish_file`), then every further target that lacks the file's
    publication (the PostgreSQL database of `PREFAB_REPORTING_POSTGRES_URL`: `publishing.postgres`). A target
    that cannot be completed fails the stage with its reason after the file publication is recorded; the
    rerun finds the file up to date and completes the target, recording nothing twice."""
    publication = publish_file(settings, run_id, checks_passed, checks_warned)
    publication.postgres = complete_postgres(settings, PUBLISHED_TABLES,
                                             extra_statements=postgres_comments(settings, settings.reporting_path))
    return publication


def postgres_comments(settings: Settings, path: Path) -> list[str]:
    """The `COMMENT ON VIEW` statements of the published file `path` for the PostgreSQL target: the same
    descriptions as the file's, on the stable views analysts query, for the columns the file has (the views
    have exactly those). None without a PostgreSQL target or a file."""
    if not settings.reporting_postgres_url or not path.exists():
        return []
    with duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG) as con:
        rows = con.execute("select table_name, column_name from duckdb_columns() "
                           "where schema_name = 'main'").fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return comment_statements("reporting", [t for t in PUBLISHED_TABLES if t in columns],
                              settings.dbt_project_dir, kind="VIEW", columns=columns)


def _write_file_rest(con: duckdb.DuckDBPyConnection, settings: Settings, new_row: dict) -> None:
    """The publication log with the new row and every table's and column's description (from the dbt docs;
    kept by the 'v0.10.0' format: describe.py) into the file attached as candidate_file, then checkpointed."""
    con.execute("create or replace table candidate_file.main.publication as select * from dq.publication_log")
    _insert_publication(con, "candidate_file.main.publication", new_row)
    columns: dict[str, list[str]] = {}
    for t, c in file_comments(con, "candidate_file"):
        columns.setdefault(t, []).append(c)
    for statement in comment_statements("candidate_file.main", PUBLISHED_TABLES, settings.dbt_project_dir,
                                        columns=columns):
        con.execute(statement)
    con.execute("checkpoint candidate_file")


def _write_whole(con: duckdb.DuckDBPyConnection, settings: Settings, building: Path, new_row: dict) -> None:
    """The new file written whole from the candidate marts, in `STORAGE_VERSION`."""
    building.unlink(missing_ok=True)
    con.execute(f"attach '{building}' as candidate_file (storage_version '{STORAGE_VERSION}')")
    try:
        for t in REPORTING_TABLES:
            con.execute(f"create table candidate_file.main.{t} as select * from {CANDIDATE_SCHEMA}.{t} "
                        f"{_order_by(con, t)}")
        _write_file_rest(con, settings, new_row)
    finally:
        con.execute("detach candidate_file")


def _write_from_published(con: duckdb.DuckDBPyConnection, settings: Settings, target: Path, building: Path,
                          live_checksum: str, checksum: str, new_row: dict) -> str | None:
    """The new file written from a copy of the published one, only its changed tables' changed rows written
    (`publishing.file_delta`): what was done, or None (the copy removed) when the copy cannot be used or its
    contents do not come out as the candidate's, which the caller then writes whole."""
    file_delta.copy_published(target, building)
    con.execute(f"attach '{building}' as candidate_file")
    done: dict[str, str] = {}
    try:
        why = file_delta.why_not_reusable(con, "candidate_file", (current_database(con), CANDIDATE_SCHEMA),
                                          REPORTING_TABLES, STORAGE_VERSION)
        if why is None:
            ours, theirs = dict(p.split(":", 1) for p in checksum.split("|")), \
                dict(p.split(":", 1) for p in live_checksum.split("|"))
            changed = [t for t in REPORTING_TABLES if ours[t] != theirs.get(t)]
            done = file_delta.write_changed(con, "candidate_file", CANDIDATE_SCHEMA, changed,
                                            lambda t: _order_by(con, t))
            if content_checksum(con, "candidate_file.main") != checksum:  # a safety net: never seen
                why = "its contents did not come out as the candidate's"
        if why is None:
            _write_file_rest(con, settings, new_row)
    finally:
        con.execute("detach candidate_file")
    if why is not None:
        log.warning("publication %s written whole, not from the published file: %s", new_row["publication_id"], why)
        building.unlink(missing_ok=True)
        return None
    return (f"from the published file: {len(done)} of {len(REPORTING_TABLES)} tables changed"
            + "".join(f"; {t}: {what}" for t, what in done.items()))


def current_database(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_database()").fetchone()[0]


def publish_file(settings: Settings, run_id: str, checks_passed: int | None = None,
                 checks_warned: int | None = None) -> Publication:
    """Publish the candidate marts as `reporting.duckdb` unless identical to the published data. Run under the
    warehouse lock (one publisher at a time; `pipeline.stages.run_stage` takes it): leftovers of a publisher
    killed mid-way are cleaned up, and a swap whose log row was never written is recorded, so a rerun after a
    crash at any point ends as an uninterrupted run.

    The publication records the run's gate counts (`gate_counts`); `checks_passed`/`checks_warned` given
    explicitly replace them (for tests that publish a candidate without a gate run). The failing checks a
    steward's waiver let through are always those of the run's gate rows (`gate_waivers`).

    The file is written in `STORAGE_VERSION`, which DuckDB 1.x clients read."""
    target = settings.reporting_path
    _remove_stale_wal(target)  # before reading it: a stale WAL beside the published file makes every open fail
    live_checksum, live_rows, live_comments = _live_publication(target)
    building = target.with_name(f".{target.name}.{os.getpid()}.building")
    for stale in target.parent.glob(f".{target.name}.*.building*"):  # left by a publisher killed before its swap
        stale.unlink(missing_ok=True)
    with connect_warehouse(settings) as con:
        # A swap that happened just before a crash, whose log row was never written: record it now.
        logged = {r[0] for r in con.execute("select publication_id from dq.publication_log").fetchall()}
        for row in live_rows:
            if row["publication_id"] not in logged:
                _insert_publication(con, "dq.publication_log", row)
        checksum = content_checksum(con, CANDIDATE_SCHEMA)
        # Same data and same descriptions: nothing to publish. Changed docs alone make a new publication, so
        # the comments analysts read are never older than the dbt docs.
        expected = expected_comments(settings)
        if checksum == live_checksum and all(text == expected.get(k) for k, text in live_comments.items()):
            return Publication(False, live_rows[-1]["publication_id"] if live_rows else None, checksum, str(target),
                               "the candidate is identical to the published data; nothing to publish")
        if undone := retention.rolled_back(settings, checksum):
            return Publication(False, live_rows[-1]["publication_id"] if live_rows else None, checksum, str(target),
                               f"the candidate is identical to publication {undone['publication_id']}, rolled back "
                               f"at {undone['rolled_back_at']}: not published again until the data or a model "
                               "changes (publishing/retention.py)")
        publication_id = (con.execute("select coalesce(max(publication_id), 0) from dq.publication_log")
                          .fetchone()[0] + 1)
        data_as_of = con.execute(f"select max(start_date) from {CANDIDATE_SCHEMA}.fct_building").fetchone()[0]
        included = con.execute("select count(*) from dq.submission_ledger where status = 'loaded'").fetchone()[0]
        if checks_passed is None or checks_warned is None:
            checks_passed, checks_warned = gate_counts(con, run_id)
        checks_waived, waived_checks = gate_waivers(con, run_id)
        now = datetime.now(UTC).replace(tzinfo=None)
        new_row = {"publication_id": publication_id, "run_id": run_id, "published_at": now, "data_as_of": data_as_of,
                   "submissions_included": included, "checks_passed": checks_passed, "checks_warned": checks_warned,
                   "content_checksum": checksum, "checks_waived": checks_waived, "waived_checks": waived_checks}
        written = None
        if live_checksum is not None:
            written = _write_from_published(con, settings, target, building, live_checksum, checksum, new_row)
        if written is None:
            _write_whole(con, settings, building, new_row)
        _remove_stale_wal(building)
        _remove_stale_wal(target)
        retention.keep(settings, building, publication_id)
        started = time.perf_counter()
        os.replace(building, target)
        swap_seconds = time.perf_counter() - started
        _insert_publication(con, "dq.publication_log", new_row)
        sync_journal(con, settings, PUBLICATION_TABLES)
    retention.prune(settings)
    return Publication(True, publication_id, checksum, str(target), f"published publication {publication_id}",
                       swap_seconds, written=written or "written whole")
