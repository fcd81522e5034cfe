"""The nightly run with a PostgreSQL target (the local server; skipped, saying what to start, without it): the
publication lands there with the file's rows, and a run whose gate fails changes nothing there."""

from __future__ import annotations

import shutil
from dataclasses import replace

import duckdb
import pytest
from psycopg import sql

from pipeline.stages import run_stages
from publishing.gate import GateBlocked
from publishing.publish import REPORTING_TABLES
from tests.helpers import postgres as pg
from tests.helpers.gate import corrupt_candidate
from tests.helpers.landing import HEADER, land, row
from tests.helpers.nightly import nightly_without_airflow
from tests.helpers.warehouse import warehouse_rows

pytestmark = pytest.mark.slow
TABLES = (*REPORTING_TABLES, "publication")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One real nightly (two counties' files) published to the file and a throwaway PostgreSQL database."""
    pg.require_postgres()
    from foundation.config import settings

    root = tmp_path_factory.mktemp("pgnightly")
    with pg.throwaway("nightly", ("prefab_analyst",)) as (url, roles):
        s = replace(settings(), landing_dir=root / "landing", data_dir=root / "data", reporting_postgres_url=url,
                    reporting_reader_role=roles["prefab_analyst"], landing_settle_seconds=0)
        land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600.5")
             + row("330402", "2020-03", "P1", "2#", "2020-03-06", "820.25", "0"), 1000)
        land(s, "330424_2020-04.csv", HEADER + row("330424", "2020-04", "P9", "1#", "2020-04-09", "500", "100"), 1001)
        pub = nightly_without_airflow(s, "n1")
        assert pub.published and pub.publication_id == 1 and "loaded" in pub.postgres, pub
        yield s, url


def file_rows(s, table: str) -> list[tuple]:
    con = duckdb.connect(str(s.reporting_path), read_only=True)
    try:
        return sorted(con.execute(f"select * from {table}").fetchall(), key=repr)
    finally:
        con.close()


def pg_table(table: str) -> sql.Composed:
    return sql.SQL("select * from {}").format(sql.Identifier("reporting", table))


def test_publication_lands_with_the_files_rows(published):
    s, url = published
    con = duckdb.connect(str(s.reporting_path), read_only=True)
    try:
        numeric = {}
        for t in TABLES:
            rel = con.sql(f"select * from {t}")
            numeric[t] = [c for c, typ in zip(rel.columns, rel.types, strict=True)
                          if str(typ).startswith(("DECIMAL", "INTEGER", "BIGINT"))]
        file_sums = {t: con.execute(f"select count(*) {''.join(f', sum({c})' for c in numeric[t])} from {t}")
                     .fetchall()[0] for t in TABLES}
    finally:
        con.close()
    for t in TABLES:
        sums = sql.SQL("").join(sql.SQL(", sum({})").format(sql.Identifier(c)) for c in numeric[t])
        got = pg.rows(url, sql.SQL("select count(*){} from {}").format(sums, sql.Identifier("reporting", t)))[0]
        assert got == file_sums[t], t  # row counts and every numeric column's sum, exactly (NUMERIC, not float)
        assert sorted(pg.rows(url, pg_table(t)), key=repr) == file_rows(s, t), t  # and every row, value for value
    assert file_sums["fct_building"][0] == 3
    assert pg.rows(url, "select publication_id, run_id from reporting.publication") == [(1, "n1")]
    assert warehouse_rows(s, "select publication_id, status from dq.publication_targets") == [(1, "complete")]


def test_failed_gate_changes_nothing_in_postgresql(published, tmp_path):
    s, url = published
    before = {t: sorted(pg.rows(url, pg_table(t)), key=repr) for t in TABLES}
    views = pg.rows(url, "select viewname, definition from pg_views where schemaname = 'reporting' order by 1")
    schemas = pg.schemas(url)
    bad = replace(s, data_dir=tmp_path / "data")
    shutil.copytree(s.data_dir, bad.data_dir)
    corrupt_candidate(bad, "330402")  # the candidate disagrees with the accepted rows: the gate blocks

    with pytest.raises(GateBlocked):
        run_stages(bad, "n2", first="gate")

    assert {t: sorted(pg.rows(url, pg_table(t)), key=repr) for t in TABLES} == before
    assert pg.rows(url, "select viewname, definition from pg_views where schemaname = 'reporting' order by 1") == views
    assert pg.schemas(url) == schemas
    assert warehouse_rows(bad, "select publication_id, status from dq.publication_targets") == [(1, "complete")]


def test_nothing_new_still_completes_a_postgresql_target_that_lacks_the_publication(published, tmp_path):
    """The nothing-changed skip (`publishing.unchanged`) never leaves a configured PostgreSQL target behind: a
    target without the file's publication (here a new, empty database, as after a new URL or a server that was
    down at the last publish) makes the run go on to publish, which finds the file up to date and loads it
    there; once it is there, the next run skips."""
    from pipeline.stages import Skipped

    s, url = published
    copy = replace(s, data_dir=tmp_path / "data")
    shutil.copytree(s.data_dir, copy.data_dir)
    assert isinstance(nightly_without_airflow(copy, "n3"), Skipped)  # the fixture's target is current

    with pg.throwaway("nightly_new", ()) as (new_url, _):
        moved = replace(copy, reporting_postgres_url=new_url)
        completed = nightly_without_airflow(moved, "n4")
        assert not isinstance(completed, Skipped) and not completed.published, completed
        assert "loaded" in completed.postgres
        assert pg.rows(new_url, "select publication_id, run_id from reporting.publication") == [(1, "n1")]
        assert isinstance(nightly_without_airflow(moved, "n5"), Skipped)
