"""The journal: every row of the warehouse's own history (`dq`), appended outside `warehouse.duckdb`.

The steward decisions and the ledger's history exist nowhere but in the `dq` tables of `warehouse.duckdb`; the
archive holds the files, not what became of them. So every writer of those tables appends the rows it
committed to a JSON lines file per table under `Settings.journal_dir` (beside the archive), each append
flushed and fsync'd before the writer returns, and a warehouse lost or set aside (corrupt) is rebuilt from it:
`restore` inserts every journaled row the warehouse lacks, `ingestion.rebuild` then re-reads the loaded files'
rows from the archive.

The journal follows the warehouse, never leads it: rows are appended after their transaction commits, so a
rolled-back transaction leaves nothing behind. A crash between the commit and the append leaves rows only in
the warehouse; `sync` (called by every writer after its commit, and at the start of every run) appends every
warehouse row the journal lacks, so the gap is closed by the next writer. Rows are compared as whole rows
(a multiset: two identical rows are kept twice), keyed by their JSON text, so a rerun never appends a row
twice. A line cut short by a crash mid-append is skipped when read (and the next append starts on a new line).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import duckdb

from foundation import journal_index
from foundation.config import Settings

log = logging.getLogger(__name__)

# The dq tables that are history (the views over them are derived). Ingestion's ledger writes the first four
# and the submission checks; the gate writes check results; publication writes the log; stewards, reviews; the
# PostgreSQL target (publishing/postgres.py) its attempts.
LEDGER_TABLES = ("dq.submission_files", "dq.submission_status_log", "dq.quarantine", "dq.ignored_rows")
CHECK_TABLES = ("dq.check_results",)
DECISION_TABLES = ("dq.steward_reviews",)
PUBLICATION_TABLES = ("dq.publication_log", "dq.publication_targets")
JOURNALED_TABLES = LEDGER_TABLES + CHECK_TABLES + DECISION_TABLES + PUBLICATION_TABLES


def journal_path(settings: Settings, table: str) -> Path:
    return settings.journal_dir / f"{table}.jsonl"


def _encode(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, name]).fetchall()]


def _key(columns: list[str], row: dict) -> str:
    """A row's identity: its values in the table's column order (a column added later is null in older lines)."""
    return json.dumps([row.get(c) for c in columns], ensure_ascii=False, sort_keys=True)


def _warehouse_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> list[dict]:
    rows = con.execute(f"select {', '.join(columns)} from {table}").fetchall()
    return [{c: _encode(v) for c, v in zip(columns, r, strict=True)} for r in rows]


def read_journal(settings: Settings, table: str) -> list[dict]:
    """The journaled rows of a table, in the order appended; a line that does not parse (cut short by a crash
    while it was appended) is skipped with a warning."""
    path = journal_path(settings, table)
    if not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("journal %s line %d is incomplete (a crash while it was appended); skipped", path, number)
    return rows


def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def append(settings: Settings, table: str, rows: list[dict]) -> None:
    """Append rows to a table's journal and fsync it (and the folder, when the file is new)."""
    if not rows:
        return
    path = journal_path(settings, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("ab") as fh:
        if fh.tell() > 0:
            with path.open("rb") as tail:
                tail.seek(-1, os.SEEK_END)
                if tail.read(1) != b"\n":
                    fh.write(b"\n")  # a line cut short by a crash stays on its own line, skipped when read
        fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    if new:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _differences(con: duckdb.DuckDBPyConnection, settings: Settings, table: str
                 ) -> tuple[list[str], list[dict], list[dict]]:
    """(columns, warehouse rows the journal lacks, journal rows the warehouse lacks)."""
    columns = _columns(con, table)
    if con.execute(f"select count(*) from {table}").fetchone()[0] == _lines(journal_path(settings, table)):
        return columns, [], []  # the usual night: nothing written since the last sync (one count, one line count)
    in_warehouse = _warehouse_rows(con, table, columns)
    journaled = read_journal(settings, table)
    counts = Counter(_key(columns, r) for r in journaled)
    missing_from_journal = []
    for row in in_warehouse:
        key = _key(columns, row)
        if counts[key] > 0:
            counts[key] -= 1
        else:
            missing_from_journal.append(row)
    missing_from_warehouse, wanted = [], +counts
    for row in journaled:
        key = _key(columns, row)
        if wanted[key] > 0:
            wanted[key] -= 1
            missing_from_warehouse.append(row)
    return columns, missing_from_journal, missing_from_warehouse


def sync(con: duckdb.DuckDBPyConnection, settings: Settings, tables: tuple[str, ...] = JOURNALED_TABLES) -> None:
    """Append to the journal every committed row of `tables` it lacks (call after the writer's commit). The rows
    are found by their digests when the journal's index describes it (`foundation.journal_index`), else by
    comparing every row, after which the index is rebuilt."""
    for table in tables:
        columns, path = _columns(con, table), journal_path(settings, table)
        if con.execute(f"select count(*) from {table}").fetchone()[0] == _lines(path):
            continue  # the usual night: nothing written since the last sync
        digests = journal_index.load(path, columns)
        if digests is None:
            _, missing, _ = _differences(con, settings, table)
            append(settings, table, missing)
            journal_index.rebuild(con, path, table, columns, read_journal(settings, table), _types(con, table))
            continue
        new = journal_index.unjournaled(con, table, columns, digests)
        append(settings, table, [{c: _encode(v) for c, v in zip(columns, values, strict=True)} for _, values in new])
        digests.update(digest for digest, _ in new)
        journal_index.save(path, columns, digests)


def _types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    return dict(con.execute("select column_name, data_type from information_schema.columns where table_schema = ? "
                            "and table_name = ?", [schema, name]).fetchall())


def restore(con: duckdb.DuckDBPyConnection, settings: Settings,
            tables: tuple[str, ...] = JOURNALED_TABLES) -> dict[str, int]:
    """Insert every journaled row the warehouse lacks, inside the caller's transaction; then the journal is
    completed with the warehouse's rows it lacks (after the caller's commit: `sync`). A journaled row whose
    primary key the warehouse already holds with other values is left out (`insert or ignore`): the warehouse's
    row stands. Returns the rows restored per table (only tables where some were)."""
    restored = {}
    for table in tables:
        columns, _, missing = _differences(con, settings, table)
        if not missing:
            continue
        schema, name = table.split(".")
        keyed = con.execute("select count(*) from duckdb_constraints() where schema_name = ? and table_name = ? "
                            "and constraint_type in ('PRIMARY KEY', 'UNIQUE')", [schema, name]).fetchone()[0]
        with journal_index.typed_rows(con, missing, columns, _types(con, table)) as select:
            con.execute(f"insert {'or ignore ' if keyed else ''}into {table} ({', '.join(columns)}) {select}")
        restored[table] = len(missing)
    return restored
