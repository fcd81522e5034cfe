"""The next publication file written from the published one: only what changed is written.

Writing every mart anew costs the size of every mart every night, though a new month changes a few tables,
and of those mostly their newest rows. So the new file starts as a byte copy of the published file (published
files are never opened for writing: the copy is exactly what analysts read), and each table whose checksum
differs from the candidate's gets the difference of the two multisets of rows: the rows whose count differs
are deleted and inserted again with the candidate's count. The result holds exactly the candidate's rows; the
caller (`publishing.publish.publish_file`) compares the whole file's checksum with the candidate's before the
swap and writes the file whole if they differ.

The copy keeps the published file's format: DuckDB writes an attached file in the storage version the file
already has, and a copy is only used if that version is the one a new file gets (`publish.STORAGE_VERSION`),
every table has the candidate's columns and types in the same order, and the file is compact enough: deleted
rows leave holes that scans still read, so a table that would lose more than REWRITE_SHARE of its rows is
written anew, and a copy whose free blocks exceed FREE_SHARE of the file is not used at all (the file is written
whole, compact, that night).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import duckdb

REWRITE_SHARE = 0.25  # a table whose deleted rows would be more than this share of it is written anew
FREE_SHARE = 0.30  # a copy whose free blocks are more than this share of its blocks is not used

# The rows that can differ: those whose row hash (DuckDB's `hash` of the whole row, as `content_checksum` sums)
# has not the same count on both sides. A hash on one side only is a row to insert or to delete as it is; only
# a hash on both sides with other counts (a repeated row, or two rows sharing a hash) needs its rows compared
# column by column (DIFF_SQL). Grouping 64-bit hashes is cheap, grouping every column is not: national, a new
# month's four changed tables (December 2026), 17.6 s grouping every row's columns, 6-10 s grouping the rows of
# differing hashes, 4.3 s so. Two different rows with the same hash and the same count on both sides would be
# taken as equal: the assumption the whole-file path already makes when it finds a candidate identical to the
# published data by its checksum (a sum of the same hashes).
HASHES_SQL = """
create or replace temp table publication_hashes as
select h, count(*) filter (where side) as in_candidate, count(*) filter (where not side) as in_file
from (select hash(c) as h, true as side from {candidate} as c union all select hash(f), false from {file} as f)
group by h
having count(*) filter (where side) <> count(*) filter (where not side)
"""
# The multiset difference of the rows of the hashes on both sides: each distinct row with its count on both
# sides, where the counts differ. GROUP BY treats NULLs as equal, as row identity needs.
DIFF_SQL = """
create or replace temp table publication_diff as
select * exclude (side), count(*) filter (where side) as in_candidate, count(*) filter (where not side) as in_file
from (
    select *, true as side from {candidate} as c where hash(c) in (select h from {both})
    union all
    select *, false as side from {file} as f where hash(f) in (select h from {both})
)
group by all
having count(*) filter (where side) <> count(*) filter (where not side)
"""
BOTH_SIDES = "(select h from publication_hashes where in_candidate > 0 and in_file > 0) as both_sides"


@cache
def storage_tag(storage_version: str) -> str:
    """The storage version DuckDB reports (`duckdb_databases().tags`) for a file written as `storage_version`:
    what a copied file must report to be written further (versions of the same format share a tag)."""
    with tempfile.TemporaryDirectory() as folder, duckdb.connect() as con:
        con.execute(f"attach '{Path(folder) / 'probe.duckdb'}' as probe (storage_version '{storage_version}')")
        return con.execute("select tags['storage_version'] from duckdb_databases() "
                           "where database_name = 'probe'").fetchone()[0]


def _layout(con: duckdb.DuckDBPyConnection, database: str, schema: str, tables: tuple[str, ...]) -> dict:
    rows = con.execute("select table_name, column_name, data_type from duckdb_columns() "
                       "where database_name = ? and schema_name = ? and list_contains(?, table_name) "
                       "order by table_name, column_index", [database, schema, list(tables)]).fetchall()
    layout: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        layout.setdefault(table, []).append((column, data_type))
    return layout


def why_not_reusable(con: duckdb.DuckDBPyConnection, alias: str, candidate: tuple[str, str],
                     tables: tuple[str, ...], storage_version: str) -> str | None:
    """Why the file attached as `alias` cannot be written further into the candidate's (`candidate`: its
    database and schema) `tables`; None if it can."""
    tag = con.execute("select tags['storage_version'] from duckdb_databases() where database_name = ?",
                      [alias]).fetchone()[0]
    if tag != storage_tag(storage_version):
        return f"its storage version is {tag}, not {storage_tag(storage_version)}"
    if (ours := _layout(con, alias, "main", tables)) != (theirs := _layout(con, *candidate, tables)):
        differ = sorted(t for t in tables if ours.get(t) != theirs.get(t))
        return f"the columns of {', '.join(differ)} are not the candidate's"
    total, free = con.execute("select total_blocks, free_blocks from pragma_database_size() "
                              "where database_name = ?", [alias]).fetchone()
    if total and free > FREE_SHARE * total:
        return f"{free} of its {total} blocks are free: written whole, compact"
    return None


def copy_published(published: Path, building: Path) -> None:
    """The new file's start: a byte copy of the published one."""
    shutil.copyfile(published, building)


def write_difference(con: duckdb.DuckDBPyConnection, file_table: str, candidate_table: str,
                     order_by: str) -> tuple[int, int] | None:
    """Make `file_table` hold exactly the rows of `candidate_table` (same columns) by writing only the rows whose
    count differs: (rows deleted, rows inserted); None when the deleted rows would be too large a share of the
    table (the caller writes it anew). Inserted rows are written in `order_by`."""
    con.execute(HASHES_SQL.format(candidate=candidate_table, file=file_table))
    try:
        out, both, size = con.execute(
            "select coalesce(sum(in_file), 0), count(*) filter (where in_candidate > 0 and in_file > 0), "
            f"(select count(*) from {file_table}) from publication_hashes").fetchone()
        if out > REWRITE_SHARE * max(size, 1):  # appended rows leave no holes: only the deleted count
            return None
        columns = ", ".join(d[0] for d in con.execute(f"select * from {candidate_table} limit 0").description)
        if both:
            con.execute(DIFF_SQL.format(candidate=candidate_table, file=file_table, both=BOTH_SIDES))
        deleted = con.execute(
            f"delete from {file_table} where rowid in (select f.rowid from {file_table} as f where hash(f) in "
            "(select h from publication_hashes where in_candidate = 0))").fetchone()[0]
        mixed = ""
        if both:
            match = " and ".join(f"f.{c} is not distinct from d.{c}" for c in columns.split(", "))
            deleted += con.execute(f"delete from {file_table} where rowid in (select f.rowid from {file_table} f "
                                   f"join publication_diff d on {match} where d.in_file > 0)").fetchone()[0]
            # each such row as many times as the candidate has it (unnest of 0: none)
            mixed = (f" union all select {columns} from (select *, unnest(range(in_candidate)) "
                     "from publication_diff)")
        inserted = con.execute(
            f"insert into {file_table} select {columns} from (select * from {candidate_table} as c where hash(c) in "
            f"(select h from publication_hashes where in_file = 0){mixed}) {order_by}").fetchone()[0]
        return deleted, inserted
    finally:
        con.execute("drop table if exists temp.publication_diff")
        con.execute("drop table if exists temp.publication_hashes")


def write_changed(con: duckdb.DuckDBPyConnection, alias: str, schema: str, changed: list[str],
                  order_by: Callable[[str], str]) -> dict[str, str]:
    """Bring each of the `changed` tables of the file attached as `alias` to the candidate's (`schema`): patched
    (`write_difference`) or, where the difference is large, written anew in `order_by`. What was done, by table."""
    done = {}
    for t in changed:
        patched = write_difference(con, f"{alias}.main.{t}", f"{schema}.{t}", order_by(t))
        if patched is None:
            con.execute(f"create or replace table {alias}.main.{t} as select * from {schema}.{t} {order_by(t)}")
            done[t] = "written anew"
        else:
            done[t] = f"{patched[0]} rows out, {patched[1]} in"
    return done
