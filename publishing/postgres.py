"""Publication to PostgreSQL: the published `reporting.duckdb`, table for table, into the PostgreSQL database of
`PREFAB_REPORTING_POSTGRES_URL`, where analysts and BI tools reach it over the network.

Layout of the target database:
- `reporting_p<publication_id>`: one data schema per publication, its tables created from the file's column
  types, loaded with `COPY ... FROM STDIN` (psycopg 3; never row inserts: ~365 rows/s here, against 500k rows in
  0.78 s by COPY; never the ADBC driver, whose open bugs corrupt NUMERIC values), indexed for the analysts'
  filters (`unit_code` with the first date column, each date column) and analysed. Readers have no privilege on it.
- `reporting`: one view per table, `reporting.<table>` = `select <columns> from reporting_p<id>.<table>`, the
  only objects analysts see. A view runs with its owner's rights, so the reader role needs nothing on the data
  schemas.

The switch: one transaction creates and loads the new data schema, then replaces every view, creates the reader
role if missing and grants it `USAGE` on `reporting` and `SELECT` on its views, runs the caller's
`extra_statements` (the place for `publishing.describe`'s `COMMENT ON` statements), and commits. A reader sees
the previous publication or the new one, never a mix and never an empty table: every query plans against one
set of view definitions and its snapshot is taken after them (READ COMMITTED, what autocommit clients and BI
tools use). A REPEATABLE READ transaction opened before a switch and still open after it reads the new views
with its old snapshot: 0 rows (measured; docs/analysts.md says so). Killed at any point, the transaction rolls
back and PostgreSQL keeps the previous publication whole.

Why views and not a schema rename: `ALTER SCHEMA reporting RENAME` moves analysts' own views with the renamed
(old) schema, since PostgreSQL binds views by OID; `CREATE OR REPLACE VIEW` keeps the view's OID, so their views
and saved queries over `reporting.*` go on answering with the new publication.

Columns: `CREATE OR REPLACE VIEW` keeps a view's columns (names, types, order) and may only append. So a view
keeps the columns it already has first, in their order, and a column new in the table is appended (wherever it
sits in the table). A column dropped or retyped cannot be kept: that view is dropped and created again, which
PostgreSQL refuses while analysts' own views depend on it. The publication to PostgreSQL then fails naming those
views (the file publication stands): it is a breaking change of the reporting contract, and their owners must
change them first.

Waiting for readers: the switch takes every view's ACCESS EXCLUSIVE lock first, in one statement (`_lock_views`
says why), which waits for queries running on them.
It waits at most `SWITCH_LOCK_TIMEOUT` per try (below PostgreSQL's `deadlock_timeout`, 1 s by default, so a
reader whose query locked the views in another order never becomes a deadlock victim: the switch gives up
first), rolls back to its savepoint and tries again, up to `SWITCH_WAIT_SECONDS`, then fails naming the
sessions that held the views. Old data schemas are dropped after the switch, each with `DROP_LOCK_TIMEOUT`: one a
reader still reads (a query started before the switch) is left for the next publication.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from foundation.config import Settings
from foundation.db import DUCKDB_CONFIG, connect_warehouse
from foundation.journal import PUBLICATION_TABLES
from foundation.journal import sync as sync_journal

log = logging.getLogger(__name__)

VIEW_SCHEMA = "reporting"
DATA_SCHEMA_PREFIX = "reporting_p"  # + publication_id
DATA_SCHEMA_PATTERN = re.compile(r"^reporting_p(\d+)$")
SWITCH_LOCK_TIMEOUT = "200ms"
SWITCH_WAIT_SECONDS = 120.0
DROP_LOCK_TIMEOUT = "1s"
CONNECT_TIMEOUT_SECONDS = 10  # an unreachable server fails the target in seconds, not the OS's minutes
COPY_BATCH_ROWS = 100_000
# DuckDB type -> PostgreSQL type (DECIMAL(p,s) -> numeric(p,s) is handled apart). A type not listed fails the
# target naming the column, rather than publishing it as something else.
PG_TYPES = {
    "VARCHAR": "text", "BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer",
    "BIGINT": "bigint", "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint", "UBIGINT": "numeric",
    "HUGEINT": "numeric", "FLOAT": "real", "DOUBLE": "double precision", "DATE": "date", "TIME": "time",
    "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz", "INTERVAL": "interval", "UUID": "uuid",
}


class PostgresTargetError(Exception):
    """The publication could not be put in the PostgreSQL target; the message says why, in an operator's words."""


class PostgresTargetMissing(Exception):
    """Raised by the publish stage: the file has the publication, the PostgreSQL target does not (yet)."""


@dataclass
class PostgresPublication:
    publication_id: int
    loaded: bool  # False: the target had it already
    seconds: float  # the whole transaction, load and switch
    rows: dict[str, int]
    dropped_schemas: list[str]
    kept_schemas: list[str]  # old data schemas still read by someone: dropped by a later publication


def target_name(url: str) -> str:
    """The target as operators see it in alerts and the summary: `postgresql://user@host:port/dbname`, never
    the password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable URL)"
    user = f"{info['user']}@" if info.get("user") else ""
    return f"postgresql://{user}{info.get('host', '')}:{info.get('port', '5432')}/{info.get('dbname', '')}"


def connect(url: str) -> psycopg.Connection:
    info = conninfo_to_dict(url)
    info.setdefault("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))
    info.setdefault("application_name", "prefab-publish")
    # autocommit: each `conn.transaction()` below is a real BEGIN ... COMMIT, not a savepoint of an implicit one
    return psycopg.connect(**info, autocommit=True)


def live_publication(conn: psycopg.Connection) -> int | None:
    """The publication the target's `reporting` views show now (None: nothing published there yet)."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('reporting.publication') is not null")
        if not cur.fetchone()[0]:
            return None
        cur.execute("select max(publication_id) from reporting.publication")
        return cur.fetchone()[0]


def _pg_type(duck_type: str, table: str, column: str) -> str:
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duck_type)
    if decimal:
        return f"numeric({decimal.group(1)},{decimal.group(2)})"
    if duck_type not in PG_TYPES:
        raise PostgresTargetError(f"column {table}.{column} has DuckDB type {duck_type}, which the PostgreSQL "
                                  f"publication does not map (publishing/postgres.py PG_TYPES)")
    return PG_TYPES[duck_type]


def _columns(duck: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(column, PostgreSQL type) of a table of the published file, in its order."""
    rel = duck.sql(f"select * from main.{table}")
    return [(c, _pg_type(str(t), table, c)) for c, t in zip(rel.columns, rel.types, strict=True)]


def _index_columns(columns: list[tuple[str, str]]) -> list[tuple[str, ...]]:
    """The indexes for analysts' filters: (unit_code, first date column) or (unit_code), and each date column."""
    names = [c for c, _ in columns]
    dates = [c for c, t in columns if t == "date"]
    out: list[tuple[str, ...]] = []
    if "unit_code" in names:
        out.append(("unit_code", *dates[:1]))
    out += [(d,) for d in dates]
    return out


def _copy_table(cur: psycopg.Cursor, duck: duckdb.DuckDBPyConnection, schema: str, table: str,
                columns: list[tuple[str, str]]) -> int:
    """Create `schema.table` and COPY the file's rows into it as CSV written by Arrow (strings quoted, so an
    empty string stays one and an unquoted empty field is NULL). Returns the rows copied."""
    ident = sql.Identifier(schema, table)
    cur.execute(sql.SQL("create table {} ({})").format(ident, sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns)))
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
    reader = duck.sql(f"select * from main.{table}").to_arrow_reader(COPY_BATCH_ROWS)
    rows = 0
    options = pa_csv.WriteOptions(include_header=False)
    # FREEZE: the table is new in this transaction, so its rows are written frozen: the first readers do not
    # rewrite every page to set hint bits, and no vacuum has to freeze them later
    with cur.copy(sql.SQL("copy {} ({}) from stdin (format csv, freeze)").format(ident, names)) as copy:
        for batch in reader:
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(batch, sink, options)
            copy.write(memoryview(sink.getvalue()))
            rows += batch.num_rows
    for cols in _index_columns(columns):
        cur.execute(sql.SQL("create index {} on {} ({})").format(
            sql.Identifier(f"{table}_{'_'.join(cols)}_idx"[:63]), ident,
            sql.SQL(", ").join(sql.Identifier(c) for c in cols)))
    cur.execute(sql.SQL("analyze {}").format(ident))
    return rows


def _relation_columns(cur: psycopg.Cursor, schema: str, name: str) -> list[tuple[str, str]] | None:
    """(column, type as PostgreSQL spells it) of a table or view, in order (None: no such relation)."""
    cur.execute("""
        select a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_attribute as a
        where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
        order by a.attnum""", [sql.Identifier(schema, name).as_string(cur)])
    got = cur.fetchall()
    return got or None


def _dependents(cur: psycopg.Cursor, view: str) -> list[str]:
    """The views (analysts' own) that depend on `reporting.<view>`."""
    cur.execute("""
        select distinct dn.nspname || '.' || dc.relname
        from pg_depend as d
        join pg_rewrite as r on r.oid = d.objid
        join pg_class as dc on dc.oid = r.ev_class
        join pg_namespace as dn on dn.oid = dc.relnamespace
        where d.refobjid = to_regclass(%s) and dc.oid <> d.refobjid
        order by 1""", [f"{VIEW_SCHEMA}.{view}"])
    return [r[0] for r in cur.fetchall()]


def _replace_view(cur: psycopg.Cursor, schema: str, table: str) -> None:
    """Point `reporting.<table>` at `schema.table`: its present columns first in their order, new ones appended."""
    current = _relation_columns(cur, VIEW_SCHEMA, table)
    columns = _relation_columns(cur, schema, table) or []
    new = dict(columns)
    if current and any(new.get(c) != t for c, t in current):
        changed = [c for c, t in current if new.get(c) != t]
        dependents = _dependents(cur, table)
        if dependents:
            raise PostgresTargetError(
                f"reporting.{table} lost or changed the type of column(s) {', '.join(changed)}, and views "
                f"depend on it: {', '.join(dependents)}. Their owners must drop or change them first (a breaking "
                f"change of the reporting contract); PostgreSQL keeps the previous publication meanwhile")
        cur.execute(sql.SQL("drop view {}").format(sql.Identifier(VIEW_SCHEMA, table)))
        current = None
    order = [c for c, _ in current or []] + [c for c, _ in columns if c not in {c for c, _ in current or []}]
    cur.execute(sql.SQL("create or replace view {} as select {} from {}").format(
        sql.Identifier(VIEW_SCHEMA, table), sql.SQL(", ").join(sql.Identifier(c) for c in order),
        sql.Identifier(schema, table)))


def _grant(cur: psycopg.Cursor, role: str) -> None:
    cur.execute("select 1 from pg_roles where rolname = %s", [role])
    if cur.fetchone() is None:
        cur.execute("savepoint create_role")
        try:
            cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            cur.execute("rollback to savepoint create_role")  # created meanwhile by another database's publisher
    cur.execute(sql.SQL("revoke all on schema {} from public").format(sql.Identifier(VIEW_SCHEMA)))
    cur.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(VIEW_SCHEMA), sql.Identifier(role)))
    cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
        sql.Identifier(VIEW_SCHEMA), sql.Identifier(role)))


def _holders(cur: psycopg.Cursor) -> str:
    """The other sessions holding locks on the `reporting` views (for the message when the switch gives up)."""
    cur.execute("""
        select distinct a.pid, a.usename, a.state, left(a.query, 80)
        from pg_locks as l
        join pg_class as c on c.oid = l.relation
        join pg_namespace as n on n.oid = c.relnamespace
        join pg_stat_activity as a on a.pid = l.pid
        where n.nspname = %s and l.granted and l.pid <> pg_backend_pid()""", [VIEW_SCHEMA])
    return "; ".join(f"pid {p} ({u}, {s}: {q})" for p, u, s, q in cur.fetchall()) or "none found"


def _lock_views(cur: psycopg.Cursor, tables: Sequence[str]) -> None:
    """Take every existing view's ACCESS EXCLUSIVE lock in one statement, before any work of the switch.

    Readers lock the views a query names one by one, in the query's order, so a switch that locked view after
    view while replacing them (each replacement some milliseconds) held the first views while a reader that
    named them in the other order held the last: a deadlock on nearly every try once the machine was loaded
    (CI, stop 21: 106 tries in 120 s, all lost). Locked together, the window between the first lock and the
    last is one statement's, and a reader waits behind the switch instead of meeting it halfway."""
    cur.execute("""
        select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = %s and c.relkind = 'v' and c.relname = any(%s)""", [VIEW_SCHEMA, list(tables)])
    present = {r[0] for r in cur.fetchall()}
    views = [sql.Identifier(VIEW_SCHEMA, t) for t in tables if t in present]
    if views:
        cur.execute(sql.SQL("lock table {} in access exclusive mode").format(sql.SQL(", ").join(views)))


def _switch(cur: psycopg.Cursor, schema: str, tables: Sequence[str], role: str,
            extra_statements: Sequence[str | sql.Composable]) -> None:
    """Every view onto `schema`, the role's grants and the extra statements, retried while readers hold the views."""
    deadline = time.monotonic() + SWITCH_WAIT_SECONDS
    attempt = 0
    while True:
        cur.execute("savepoint switch")
        cur.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(SWITCH_LOCK_TIMEOUT)))
        try:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(VIEW_SCHEMA)))
            _lock_views(cur, tables)
            for table in tables:
                _replace_view(cur, schema, table)
            _grant(cur, role)
            # publishing.describe's COMMENT ON statements (tables and columns of the reporting views) go here:
            # in the switch transaction, so the descriptions change with the data they describe.
            for statement in extra_statements:
                cur.execute(statement)
            cur.execute("release savepoint switch")
            cur.execute("set local lock_timeout = 0")
            return
        except psycopg.errors.LockNotAvailable:
            cur.execute("rollback to savepoint switch")
            attempt += 1
            log.info("the switch to %s waits for readers of the reporting views (try %d)", schema, attempt)
            if time.monotonic() > deadline:
                raise PostgresTargetError(
                    f"the reporting views stayed in use by other sessions for {SWITCH_WAIT_SECONDS:g} s "
                    f"({attempt} tries; holders: {_holders(cur)}); PostgreSQL keeps the previous publication") from None
            time.sleep(min(0.05 * attempt, 1.0))


def drop_old_schemas(conn: psycopg.Connection, keep: str) -> tuple[list[str], list[str]]:
    """Drop every data schema but `keep`, each without waiting more than DROP_LOCK_TIMEOUT for a reader still in
    it (a query started before the switch): (dropped, left for a later publication)."""
    with conn.cursor() as cur:
        cur.execute("select nspname from pg_namespace where nspname ~ '^reporting_p[0-9]+$' order by 1")
        schemas = [r[0] for r in cur.fetchall() if r[0] != keep]
    dropped, left = [], []
    for schema in schemas:
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(DROP_LOCK_TIMEOUT)))
                cur.execute("select tablename from pg_tables where schemaname = %s", [schema])
                tables = [r[0] for r in cur.fetchall()]
                if tables:  # RESTRICT: a view someone built on an old table keeps it (and is named in the log)
                    cur.execute(sql.SQL("drop table {}").format(
                        sql.SQL(", ").join(sql.Identifier(schema, t) for t in tables)))
                cur.execute(sql.SQL("drop schema {}").format(sql.Identifier(schema)))
            dropped.append(schema)
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DependentObjectsStillExist) as exc:
            log.info("old publication schema %s left for a later publication: %s", schema, exc)
            left.append(schema)
    return dropped, left


def file_publication(path: Path) -> int | None:
    """The publication the published file holds (its latest `publication` row); None: nothing published."""
    if not path.exists():
        return None
    duck = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
    try:
        return duck.execute("select max(publication_id) from main.publication").fetchall()[0][0]
    finally:
        duck.close()


def publish_to_postgres(url: str, source: Path, tables: Sequence[str], reader_role: str,
                        extra_statements: Sequence[str | sql.Composable] = ()) -> PostgresPublication:
    """Put the publication of the file `source` (its `tables`, `publication` among them) in the PostgreSQL
    database at `url`, unless it is there already; then drop the old data schemas that nobody reads.
    `extra_statements` run inside the switch transaction, after the views and grants (for `COMMENT ON`)."""
    duck = duckdb.connect(str(source), read_only=True, config=DUCKDB_CONFIG)
    try:
        publication_id = duck.execute("select max(publication_id) from main.publication").fetchall()[0][0]
        schema = f"{DATA_SCHEMA_PREFIX}{publication_id}"
        with connect(url) as conn:
            if live_publication(conn) == publication_id:
                dropped, kept = drop_old_schemas(conn, schema)
                return PostgresPublication(publication_id, False, 0.0, {}, dropped, kept)
            started = time.perf_counter()
            rows: dict[str, int] = {}
            with conn.transaction(), conn.cursor() as cur:
                # Not live (checked above): left only by a failure after which its transaction committed nothing.
                cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
                cur.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
                cur.execute(sql.SQL("revoke all on schema {} from public").format(sql.Identifier(schema)))
                for table in tables:
                    rows[table] = _copy_table(cur, duck, schema, table, _columns(duck, table))
                _switch(cur, schema, tables, reader_role, extra_statements)
            seconds = time.perf_counter() - started
            log.info("publication %s loaded into PostgreSQL and switched in %.2f s", publication_id, seconds)
            dropped, kept = drop_old_schemas(conn, schema)
    finally:
        duck.close()
    return PostgresPublication(publication_id, True, seconds, rows, dropped, kept)


def _record(settings: Settings, publication_id: int, target: str, status: str, detail: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect_warehouse(settings) as con:
        con.execute("insert into dq.publication_targets (publication_id, target, status, detail, recorded_at) "
                    "values (?, ?, ?, ?, ?)", [publication_id, target, status, detail, now])
        sync_journal(con, settings, PUBLICATION_TABLES)  # a lost warehouse keeps what each target received


def _recorded_complete(settings: Settings, publication_id: int, target: str) -> bool:
    """Whether the target's latest record says it holds `publication_id` (the summary reads that row: after a
    failed attempt to put another publication there, such as a refused rollback, it is recorded again)."""
    with connect_warehouse(settings) as con:
        last = con.execute("select publication_id, status from dq.publication_targets where target = ? "
                           "order by recorded_at desc limit 1", [target]).fetchall()
    return last == [(publication_id, "complete")]


def complete_postgres(settings: Settings, tables: Sequence[str],
                      extra_statements: Sequence[str | sql.Composable] = (), source: Path | None = None,
                      record_failure: bool = True) -> str | None:
    """The publish stage's second target: bring the PostgreSQL database (if one is configured) up to the
    published file, and record it in `dq.publication_targets`. Returns what was done, in a line; None when no
    PostgreSQL target is configured. Raises `PostgresTargetMissing` (failing the task, whose alert carries the
    reason) when the target cannot be brought up to date: the file publication stands, and a rerun of the
    publish stage completes the target without publishing or recording the file's publication again.
    `source`: another published file to bring the target to (a kept publication a rollback puts back,
    `publishing.rollback`); the live `reporting.duckdb` by default. Without `record_failure` a failure is not
    recorded (a refused rollback: the target misses no publication, the summary must not say it does)."""
    url = settings.reporting_postgres_url
    if not url:
        return None
    target = target_name(url)
    source = source or settings.reporting_path
    publication_id = file_publication(source)
    if publication_id is None:
        return f"PostgreSQL {target}: nothing published yet"
    try:
        result = publish_to_postgres(url, source, tables, settings.reporting_reader_role, extra_statements)
    except (psycopg.Error, PostgresTargetError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if record_failure:
            _record(settings, publication_id, target, "failed", reason[:4000])
        raise PostgresTargetMissing(
            f"publication {publication_id} is in {source} but not in PostgreSQL {target}: "
            f"{reason}. Rerun the publish task once the server is back: it loads the missing publication there "
            f"without publishing the file again") from exc
    kept = f"; old schemas still read, dropped later: {', '.join(result.kept_schemas)}" if result.kept_schemas else ""
    if result.loaded:
        detail = (f"loaded {sum(result.rows.values())} rows into {DATA_SCHEMA_PREFIX}{publication_id} and switched "
                  f"the views in {result.seconds:.2f} s{kept}")
    else:
        detail = f"already there{kept}"
    if result.loaded or not _recorded_complete(settings, publication_id, target):
        _record(settings, publication_id, target, "complete", detail)
    return f"PostgreSQL {target}: publication {publication_id} {detail}"
