"""The journal of the warehouse's dq history: rows appended after their commit, each once (identical rows as many
times as they are), a line cut short by a crash skipped, and every journaled row restored into an empty warehouse
with its types (timestamps, dates, lists) intact."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime

from foundation import journal
from foundation.config import settings
from foundation.db import connect_warehouse
from foundation.journal import JOURNALED_TABLES, PUBLICATION_TABLES, journal_path, read_journal, restore, sync
from foundation.journal_index import index_path

LOG = "dq.submission_status_log"
FILES = "dq.submission_files"


def fill(s) -> None:
    with connect_warehouse(s) as con:
        at = datetime(2026, 12, 1, 2, 0, 0, 123456)
        for _ in range(2):  # two identical rows stay two rows
            con.execute(f"insert into {LOG} values ('S1', 'loaded', null, 'r1', ?)", [at])
        con.execute(f"insert into {FILES} (submission_id, kind, unit_code, period, file_name, landing_path, sha256, "
                    "size_bytes, received_at, archived_path, warnings, run_id, processed_at) values ('S1', "
                    "'buildings', '330402', '2020-03', '名.csv', 'buildings/名.csv', 'ab', 10, ?, '/a/名.csv', "
                    "['行 3: 注意', 'w2'], 'r1', ?)", [at, at])
        con.execute("insert into dq.publication_log values (1, 'r1', ?, ?, 1, 5, 0, 'x', 0, null)",
                    [at, date(2020, 3, 6)])
        sync(con, s)


def snapshot(s) -> dict:
    with connect_warehouse(s, read_only=True) as con:
        return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr)
                for t in (LOG, FILES, "dq.publication_log")}


def test_rows_are_journaled_once_and_restored_with_their_types(data_env):
    s = data_env
    fill(s)
    with connect_warehouse(s) as con:
        sync(con, s)  # a second sync (a rerun) appends nothing
    assert len(read_journal(s, LOG)) == 2 and len(read_journal(s, FILES)) == 1
    before = snapshot(s)
    s.warehouse_path.unlink()
    with connect_warehouse(s) as con:
        assert restore(con, s) == {FILES: 1, LOG: 2, "dq.publication_log": 1}
        assert restore(con, s) == {}  # nothing left to restore
    assert snapshot(s) == before
    assert before[FILES][0][14] == ["行 3: 注意", "w2"]


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_row_appended_again(data_env):
    s = data_env
    fill(s)
    path = journal_path(s, LOG)
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(text[0] + text[1][: len(text[1]) // 2], encoding="utf-8")  # the second append was cut
    assert len(read_journal(s, LOG)) == 1
    with connect_warehouse(s) as con:
        sync(con, s)  # the next writer closes the gap
    assert len(read_journal(s, LOG)) == 2
    assert path.read_text(encoding="utf-8").count("\n") == 3  # the cut line stays on a line of its own


def test_every_dq_table_is_journaled(data_env):
    """A dq table (not a view) added later is history the journal must carry too, or a rebuilt warehouse lacks it
    (dq.publication_targets, the PostgreSQL target's attempts, came after the journal)."""
    with connect_warehouse(data_env, read_only=True) as con:
        tables = {f"dq.{r[0]}" for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'dq'").fetchall()}
    assert tables == set(JOURNALED_TABLES)


def test_a_postgres_target_attempt_is_restored(data_env):
    s = data_env
    at = datetime(2026, 12, 1, 2, 0, 0)
    with connect_warehouse(s) as con:
        con.execute("insert into dq.publication_targets values "
                    "(3, 'postgresql://u@h:5432/r', 'failed', '连接被拒绝', ?)", [at])
        sync(con, s, PUBLICATION_TABLES)
    s.warehouse_path.unlink()
    with connect_warehouse(s) as con:
        assert restore(con, s) == {"dq.publication_targets": 1}
        assert con.execute("select * from dq.publication_targets").fetchall() == [
            (3, "postgresql://u@h:5432/r", "failed", "连接被拒绝", at)]


QUARANTINE = "dq.quarantine"


def night_after_night(s, *, exact: bool, reads: list | None = None, monkeypatch=None) -> dict[str, Counter]:
    """Rows written night after night, each night followed by a sync: a copy of a row already journaled, rows that
    differ only in where a text splits between two columns or inside a list, nulls. The dq tables are history:
    rows are only ever inserted. `exact`: the index is deleted before every sync, so that each sync compares every
    row (the oracle). `reads`: the tables whose journal is read whole after the first sync."""
    at = datetime(2026, 12, 2, 2, 0, 0)
    nights = [
        [f"insert into {LOG} values ('S1', 'loaded', null, 'r1', '2026-12-01 02:00:00.123456')"],  # a third copy
        [f"insert into {LOG} values ('S2', 'a‖b', 'c', 'r2', '{at}')",
         f"insert into {LOG} values ('S2', 'a', '‖b c', 'r2', '{at}')"],
        [f"insert into {QUARANTINE} values ('S1', 7, '{{}}', ['第 7 行 ‖ row 7', 'b, c'], 'r2', '{at}', ['x'])",
         f"insert into {QUARANTINE} values ('S1', 8, '{{}}', ['第 7 行 ‖ row 7', 'b', 'c'], 'r2', '{at}', null)"],
        [f"insert into {LOG} values ('S2', 'a‖b', 'c', 'r2', '{at}')"],  # a second copy of a row of the 2nd night
    ]
    fill(s)
    if reads is not None:
        real_read = journal.read_journal
        monkeypatch.setattr(journal, "read_journal", lambda *a: reads.append(a[1]) or real_read(*a))
    for statements in nights:
        with connect_warehouse(s) as con:
            for statement in statements:
                con.execute(statement)
            if exact:
                for table in JOURNALED_TABLES:
                    index_path(journal_path(s, table)).unlink(missing_ok=True)
            sync(con, s)
    return {t: Counter(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in read_journal(s, t))
            for t in (LOG, QUARANTINE)}


def test_a_sync_by_the_index_appends_what_comparing_every_row_appends(data_env, tmp_path, monkeypatch):
    s = data_env
    exact = night_after_night(s, exact=True)
    monkeypatch.setenv("PREFAB_DATA_DIR", str(tmp_path / "indexed"))
    indexed_settings = settings()
    reads: list[str] = []
    indexed = night_after_night(indexed_settings, exact=False, reads=reads, monkeypatch=monkeypatch)
    assert indexed == exact
    with connect_warehouse(indexed_settings, read_only=True) as con:
        for table in (LOG, QUARANTINE):  # every row journaled as many times as the table holds it
            assert sum(indexed[table].values()) == con.execute(f"select count(*) from {table}").fetchone()[0]
    assert sorted(exact[LOG].values()) == [1, 2, 3]
    # After the first sync the journal of a table is read whole only to index it, once: the quarantine's (it had
    # no rows at the first sync); every other sync compared digests.
    assert reads == [QUARANTINE, QUARANTINE]  # the exact comparison of its first rows, then the index's build


def test_a_journal_changed_behind_its_index_is_compared_row_by_row(data_env):
    """A crash between a journal's append and its index's write (or a writer of an older version) leaves an index
    that does not describe the journal: the next sync compares every row, appends nothing twice, re-indexes."""
    s = data_env
    fill(s)
    path = journal_path(s, LOG)
    assert index_path(path).exists()
    at = datetime(2026, 12, 2, 3, 0, 0)
    with connect_warehouse(s) as con:
        con.execute(f"insert into {LOG} values ('S3', 'loaded', null, 'r3', ?)", [at])
        journal.append(s, LOG, [{"submission_id": "S3", "status": "loaded", "reason": None, "run_id": "r3",
                                 "recorded_at": at.isoformat()}])  # appended, the index not written: a crash
        con.execute(f"insert into {LOG} values ('S4', 'loaded', null, 'r4', ?)", [at])
        sync(con, s)
        assert len(read_journal(s, LOG)) == con.execute(f"select count(*) from {LOG}").fetchone()[0] == 4
        con.execute(f"insert into {LOG} values ('S5', 'loaded', null, 'r5', ?)", [at])
        sync(con, s)  # by the rebuilt index
        assert len(read_journal(s, LOG)) == 5
    s.warehouse_path.unlink()
    with connect_warehouse(s) as con:
        restore(con, s)
        assert con.execute(f"select count(*) from {LOG}").fetchone()[0] == 5
