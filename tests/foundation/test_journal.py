"""The journal of the warehouse's dq history: rows appended after their commit, each once (identical rows as many
times as they are), a line cut short by a crash skipped, and every journaled row restored into an empty warehouse
with its types (timestamps, dates, lists) intact."""

from __future__ import annotations

from datetime import date, datetime

from foundation.db import connect_warehouse
from foundation.journal import JOURNALED_TABLES, PUBLICATION_TABLES, journal_path, read_journal, restore, sync

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
