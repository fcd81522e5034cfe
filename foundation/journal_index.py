"""What the journal already holds, kept as row digests beside it, so that a writer's sync compares digests
instead of reading the whole journal and the whole table into Python.

`foundation.journal.sync` appends the warehouse rows the journal lacks, rows compared as a multiset of whole
rows. Done in Python that is a read of every row on both sides: at national scale 7.5 s of a night's load
(dq.submission_files: 77,689 rows, a 50 MB journal; measured 2026-12-03). The index holds, per journaled table,
the multiset of the journal's row digests (md5 of the row as DuckDB's JSON), with the journal's size and the
columns and DuckDB version they were computed with. A sync then asks DuckDB for the table's digests and fetches
only the rows whose digest the journal holds fewer times.

The index is a cache: it is rebuilt from the journal whenever it does not describe it (missing, the journal's
size changed without it, as after a crash between an append and the index's write; other columns; another
DuckDB), right after an exact comparison in Python; and it is kept only if it agrees with that comparison
(every warehouse row's digest is in it as often as the row), so the digests never decide alone what is journaled.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from foundation.workdir import write_json_file

log = logging.getLogger(__name__)


def index_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".index")


def _digest_sql(columns: list[str]) -> str:
    """The row's digest, from its typed values (JSON text: unambiguous between columns and inside lists)."""
    return f"md5(cast(to_json(struct_pack({', '.join(f'{c} := {c}' for c in columns)})) as varchar))"


def _describes(data: dict, journal: Path, columns: list[str]) -> bool:
    size = journal.stat().st_size if journal.exists() else 0
    return data.get("journal_bytes") == size and data.get("columns") == columns \
        and data.get("duckdb") == duckdb.__version__


def load(journal: Path, columns: list[str]) -> Counter | None:
    """The journal's digests (digest -> lines), or None when there is no index that describes the journal."""
    try:
        data = json.loads(index_path(journal).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Counter(data["digests"]) if _describes(data, journal, columns) else None


def save(journal: Path, columns: list[str], digests: Counter) -> None:
    """Write the index of the journal as it now is (whole or not at all)."""
    write_json_file(index_path(journal), {"journal_bytes": journal.stat().st_size if journal.exists() else 0,
                                          "columns": columns, "duckdb": duckdb.__version__,
                                          "digests": dict(digests)})


def table_digests(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> Counter:
    return Counter(dict(con.execute(f"select {_digest_sql(columns)} as d, count(*) from {table} group by d")
                        .fetchall()))


def unjournaled(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], journaled: Counter
                ) -> list[tuple[str, tuple]]:
    """(digest, row values) of every table row the journal holds fewer times than the table: as many of each."""
    wanted = table_digests(con, table, columns) - journaled
    if not wanted:
        return []
    rows = con.execute(f"select d, * exclude (d) from (select {_digest_sql(columns)} as d, {', '.join(columns)} "
                       f"from {table}) where d in (select unnest(?))", [list(wanted)]).fetchall()
    out = []
    for digest, *values in rows:
        if wanted[digest] > 0:
            wanted[digest] -= 1
            out.append((digest, tuple(values)))
    return out


@contextmanager
def typed_rows(con: duckdb.DuckDBPyConnection, rows: list[dict], columns: list[str], types: dict[str, str]
               ) -> Iterator[str]:
    """Journaled rows as a relation of the table's column types (timestamps and dates are ISO text in the
    journal): yields the select that reads them, valid while the context is open."""
    con.register("journal_rows", pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows]))
    try:
        yield "select " + ", ".join(f"cast({c} as {types[c]}) as {c}" for c in columns) + " from journal_rows"
    finally:
        con.unregister("journal_rows")


def journal_digests(con: duckdb.DuckDBPyConnection, rows: list[dict], columns: list[str],
                    types: dict[str, str]) -> Counter:
    """The digests of journaled rows, with their values cast back to the table's column types (as restored)."""
    if not rows:
        return Counter()
    with typed_rows(con, rows, columns, types) as select:
        return Counter(dict(con.execute(f"select {_digest_sql(columns)} as d, count(*) from ({select}) "
                                        "group by d").fetchall()))


def rebuild(con: duckdb.DuckDBPyConnection, journal: Path, table: str, columns: list[str], rows: list[dict],
            types: dict[str, str]) -> bool:
    """After an exact sync (every table row is journaled): index the journal's `rows`, if their digests hold
    every table row as often as the table does. False (no index: the next sync is exact again) otherwise."""
    digests = journal_digests(con, rows, columns, types)
    if table_digests(con, table, columns) - digests:
        log.warning("the journal of %s cannot be indexed (its rows cast back differ from the table's); each sync "
                    "compares it row by row", table)
        index_path(journal).unlink(missing_ok=True)
        return False
    save(journal, columns, digests)
    return True
