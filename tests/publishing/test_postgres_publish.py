"""Publication to PostgreSQL on the local server: the switch between publications as readers and analysts see it,
the reader role's rights, a killed publisher, an unreachable server, a table whose columns change.

Fast: the candidate marts are written by hand (no dbt), with figures that say which publication they are, and
published with `publishing.publish.publish` as the publish stage does. Each test has its own throwaway database
and roles (dropped after); without a PostgreSQL on 127.0.0.1:5432 they skip, saying what to start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from foundation.config import PROJECT_ROOT
from foundation.db import connect_warehouse
from pipeline.summary import postgres_target_line
from publishing.postgres import PostgresTargetMissing, target_name
from publishing.publish import REPORTING_TABLES, publish
from publishing.retention import kept, rolled_back_entries
from publishing.rollback import RollbackRefused, rollback
from tests.helpers import postgres as pg
from tests.helpers.e2e import query, sha256_file
from tests.helpers.warehouse import warehouse_rows

UNITS = ("330402", "330411")
DAYS = 50
TABLES = (*REPORTING_TABLES, "publication")


def building_total(n: int) -> Decimal:
    """fct_building's prefab area in publication n, summed here apart from the code: each unit has DAYS
    buildings of n * 1000 + i m²."""
    return Decimal(sum(n * 1000 + i for _ in UNITS for i in range(DAYS)))


def write_candidate(settings, n: int, indicators: str = "same") -> None:
    """Candidate marts for publication n: every reporting table; fct_building and fct_indicators_daily with
    figures of n, an empty string and a NULL note. `indicators`: 'same' columns, 'wider' (a column inserted in
    the middle), 'narrower' (ytd_prefab_floor_area_m2 gone)."""
    units = ", ".join(f"('{u}')" for u in UNITS)
    with connect_warehouse(settings) as con:
        con.execute("create schema if not exists marts")
        for t in REPORTING_TABLES:  # tables other engineers add: one row each
            con.execute(f"create or replace table marts.{t} as select '330402' as unit_code, {n} as n")
        con.execute(f"""create or replace table marts.fct_building as
            select unit_code, date '2020-03-01' + i::int as start_date, ({n} * 1000 + i)::decimal(18, 2)
                as prefab_floor_area_m2, case when i = 0 then '' when i = 1 then null else 'ok' end as note
            from (values {units}) as u(unit_code), range({DAYS}) as r(i)""")
        ytd = "" if indicators == "narrower" else f", ({n} * 100)::decimal(18, 2) as ytd_prefab_floor_area_m2"
        middle = ", 2 as expected_units" if indicators == "wider" else ""
        con.execute(f"""create or replace table marts.fct_indicators_daily as
            select unit_code{middle}, date '2020-03-01' + i::int as as_of_date{ytd}, {n} as n
            from (values {units}) as u(unit_code), range({DAYS}) as r(i)""")


@pytest.fixture
def target(data_env):
    """(settings publishing to a throwaway database, its URL, role names) per test."""
    pg.require_postgres()
    with pg.throwaway(f"t{time.monotonic_ns() % 10**6}", ("prefab_analyst", "alice")) as (url, roles):
        yield replace(data_env, reporting_postgres_url=url, reporting_reader_role=roles["prefab_analyst"]), url, roles


def publish_n(s, n: int, **kw):
    write_candidate(s, n, **kw)
    return publish(s, f"r{n}", checks_passed=1, checks_warned=0)


def live(url: str) -> tuple:
    return pg.rows(url, "select max(publication_id), count(*) from reporting.publication")[0]


def target_line(s, url: str) -> str:
    """The run summary's line for the PostgreSQL target."""
    with connect_warehouse(s, read_only=True) as con:
        return postgres_target_line(con, target_name(url), s.timezone)


def login_role(url: str, reader_role: str, name: str) -> str:
    """An analyst's login role, a member of the reader role (the two commands of docs/analysts.md); its URL."""
    pg.execute(url, sql.SQL("create role {} login").format(sql.Identifier(name)),
               sql.SQL("grant {} to {}").format(sql.Identifier(reader_role), sql.Identifier(name)))
    return url.replace("postgres@", f"{name}@")


def test_publication_lands_and_login_role_reads_but_cannot_write_or_create(target):
    s, url, roles = target
    pub = publish_n(s, 1)
    assert pub.published and pub.publication_id == 1
    assert pub.postgres.startswith(f"PostgreSQL {target_name(url)}: publication 1 loaded")
    alice = login_role(url, roles["prefab_analyst"], roles["alice"])

    for t in TABLES:  # every table, through the reader role, as many rows as the file
        file_count = query(s.reporting_path, f"select count(*) as n from {t}")["n"][0]
        pg_count = pg.rows(alice, sql.SQL("select count(*) from {}").format(sql.Identifier("reporting", t)))[0][0]
        assert pg_count == file_count > 0, t
    got = pg.rows(alice, "select sum(prefab_floor_area_m2), count(*) filter (where note = ''), "
                         "count(*) filter (where note is null) from reporting.fct_building")[0]
    assert got == (building_total(1), len(UNITS), len(UNITS))  # an empty string stays one, NULL stays NULL

    refused = [
        "insert into reporting.publication (publication_id) values (99)",
        "update reporting.fct_building set note = 'x'",
        "delete from reporting.fct_indicators_daily",
        "create table reporting.mine (x int)",
        "create view reporting.mine as select 1 as x",
        "create table public.mine (x int)",
        "create schema mine",
        "select count(*) from reporting_p1.fct_building",  # the data schemas: only through the views
        "drop view reporting.fct_building",
    ]
    for statement in refused:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute(alice, statement)
    assert pg.rows(url, "select rolcanlogin from pg_roles where rolname = %s", [roles["prefab_analyst"]]) == [(False,)]
    assert live(url) == (1, 1)


READER = textwrap.dedent("""
    import json, os, sys, time
    import psycopg
    url, out, stop, order = sys.argv[1:5]
    parts = {"publication": "(select max(publication_id) from reporting.publication), "
                            "(select count(*) from reporting.publication)",
             "facts": "(select sum(prefab_floor_area_m2)::text from reporting.fct_building), "
                      "(select max(ytd_prefab_floor_area_m2)::text from reporting.fct_indicators_daily)"}
    # the two readers name the views in opposite orders (the switch must not deadlock either)
    q = ("select " + parts["publication"] + ", " + parts["facts"] if order == "pf" else
         "select * from (select " + parts["facts"] + ") as f(a, b), (select " + parts["publication"] + ") as p(c, d)")
    with psycopg.connect(url, autocommit=True) as conn, open(out, "a", encoding="utf-8") as f:
        while not os.path.exists(stop):
            try:
                r = conn.execute(q).fetchone()
                rec = {"row": list(r) if order == "pf" else [r[2], r[3], r[0], r[1]]}
            except Exception as e:
                rec = {"error": f"{type(e).__name__}: {e}"}
            f.write(json.dumps(rec) + "\\n")
            f.flush()
            time.sleep(0.01)
""")


def test_readers_see_one_whole_publication_throughout_five_publications(target, tmp_path):
    s, url, _ = target
    assert publish_n(s, 1).publication_id == 1
    outs = [tmp_path / f"reader{i}.jsonl" for i in range(2)]
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([sys.executable, "-c", READER, url, str(out), str(stop), order])
               for out, order in zip(outs, ("pf", "fp"), strict=True)]
    try:
        deadline = time.monotonic() + 60
        while not all(o.exists() and o.stat().st_size > 0 for o in outs):  # every reader is reading
            assert time.monotonic() < deadline, "readers did not start"
            assert all(r.poll() is None for r in readers), "a reader died"
            time.sleep(0.05)
        for n in range(2, 7):  # five publications while they read
            pub = publish_n(s, n)
            assert pub.published and pub.publication_id == n, pub.reason
            assert "loaded" in pub.postgres
        time.sleep(0.5)
        assert all(r.poll() is None for r in readers), "a reader died"
    finally:
        stop.touch()
        for r in readers:
            try:
                r.wait(timeout=30)
            except subprocess.TimeoutExpired:
                r.kill()
    per_reader = [[json.loads(line) for line in o.read_text(encoding="utf-8").splitlines() if line] for o in outs]
    records = [rec for recs in per_reader for rec in recs]
    assert [rec["error"] for rec in records if "error" in rec] == []
    cents = Decimal("0.01")
    expected = {n: [n, n, str(building_total(n).quantize(cents)), str(Decimal(n * 100).quantize(cents))]
                for n in range(1, 7)}
    for rec in records:
        assert rec["row"] == expected[rec["row"][0]], rec  # one publication, never a mix, never empty
    for recs in per_reader:
        ids = [rec["row"][0] for rec in recs]
        assert ids == sorted(ids) and ids[-1] == 6  # never back to an older one; the last one seen
    assert len({rec["row"][0] for rec in records}) >= 3
    # old versions are dropped once nobody reads them
    assert pg.schemas(url) == ["reporting", "reporting_p6"]


def test_analysts_view_survives_publications_and_a_new_column(target):
    s, url, roles = target
    publish_n(s, 1)
    alice = login_role(url, roles["prefab_analyst"], roles["alice"])
    pg.execute(url, sql.SQL("create schema {0} authorization {0}").format(sql.Identifier(roles["alice"])))
    own = sql.Identifier(roles["alice"], "ytd_by_unit")
    pg.execute(alice, sql.SQL("create view {} as select unit_code, max(ytd_prefab_floor_area_m2) as ytd "
                              "from reporting.fct_indicators_daily group by unit_code").format(own))
    columns_sql = ("select attname from pg_attribute where attrelid = 'reporting.fct_indicators_daily'::regclass "
                   "and attnum > 0 order by attnum")
    before = pg.rows(url, columns_sql)

    publish_n(s, 2)
    assert pg.rows(alice, sql.SQL("select * from {} order by 1").format(own)) == [(u, Decimal("200.00")) for u in UNITS]
    publish_n(s, 3, indicators="wider")  # expected_units inserted in the middle of the table
    assert pg.rows(alice, sql.SQL("select * from {} order by 1").format(own)) == [(u, Decimal("300.00")) for u in UNITS]
    after = pg.rows(url, columns_sql)
    assert after == [*before, ("expected_units",)]  # kept in order, the new column appended
    assert pg.rows(alice, "select distinct expected_units from reporting.fct_indicators_daily") == [(2,)]

    # A column the analyst's view uses disappears: PostgreSQL keeps publication 3 and the reason names the view.
    with pytest.raises(PostgresTargetMissing, match=rf"ytd_prefab_floor_area_m2.*{roles['alice']}\.ytd_by_unit"):
        publish_n(s, 4, indicators="narrower")
    assert live(url) == (3, 3)
    assert warehouse_rows(s, "select max(publication_id) from dq.publication_log") == [(4,)]  # the file has it
    assert warehouse_rows(s, "select status from dq.publication_targets where publication_id = 4") == [("failed",)]
    pg.execute(alice, sql.SQL("drop view {}").format(own))  # the owner adapts
    rerun = publish(s, "r4-rerun")
    assert not rerun.published and rerun.publication_id == 4  # the file is not published again
    assert live(url) == (4, 4)
    assert warehouse_rows(s, "select publication_id, count(*) from dq.publication_log group by 1 order by 1") == [
        (n, 1) for n in range(1, 5)]


# The publish stage in a child process (as its Airflow task runs), SIGKILLed at a point of the PostgreSQL
# publication: argv[1] 'mid_copy' (the 3rd table being loaded) or 'after_switch' (committed, not yet recorded).
CHILD = r"""
import os, signal, sys
from publishing import postgres
from foundation.config import settings
from pipeline.stages import run_stage

point = sys.argv[1]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
if point == "mid_copy":
    copy, calls = postgres._copy_table, [0]
    def copy_then_die(*args):
        calls[0] += 1
        if calls[0] == 3:
            die()
        return copy(*args)
    postgres._copy_table = copy_then_die
else:
    postgres.drop_old_schemas = die
run_stage("publish", settings(), "crashed")
sys.exit(3)
"""


@pytest.mark.parametrize("point", ["mid_copy", "after_switch"])
def test_killed_publish_is_completed_by_the_rerun(target, point):
    s, url, roles = target
    publish_n(s, 1)
    write_candidate(s, 2)
    env = os.environ | {"PREFAB_LANDING_DIR": str(s.landing_dir), "PREFAB_DATA_DIR": str(s.data_dir),
                        "PREFAB_REPORTING_POSTGRES_URL": url, "PREFAB_REPORTING_READER_ROLE": roles["prefab_analyst"],
                        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.run([sys.executable, "-c", CHILD, point], cwd=PROJECT_ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert warehouse_rows(s, "select max(publication_id) from dq.publication_log") == [(2,)]  # the file has it
    if point == "mid_copy":
        assert live(url) == (1, 1)  # the killed transaction left nothing: the previous publication, whole
        assert pg.rows(url, "select sum(prefab_floor_area_m2) from reporting.fct_building") == [(building_total(1),)]
    else:
        assert live(url) == (2, 2)  # switched, never recorded
    assert warehouse_rows(s, "select count(*) from dq.publication_targets where publication_id = 2") == [(0,)]

    rerun = publish(s, "crashed")  # clearing the killed task reruns it

    assert not rerun.published and rerun.publication_id == 2  # the file is not published again
    assert live(url) == (2, 2)
    assert pg.rows(url, "select sum(prefab_floor_area_m2) from reporting.fct_building") == [(building_total(2),)]
    assert warehouse_rows(s, "select publication_id, count(*) from dq.publication_log group by 1 order by 1") == [
        (1, 1), (2, 1)]
    assert warehouse_rows(s, "select publication_id, status from dq.publication_targets order by 1") == [
        (1, "complete"), (2, "complete")]
    assert pg.schemas(url) == ["reporting", "reporting_p2"]


def test_unreachable_server_keeps_the_file_publication_and_says_why(target):
    s, url, roles = target
    down = replace(s, reporting_postgres_url="postgresql://postgres@127.0.0.1:1/prefab")  # nothing listens there
    write_candidate(down, 1)
    with pytest.raises(PostgresTargetMissing) as failed:
        publish(down, "r1", checks_passed=1, checks_warned=0)
    message = str(failed.value)
    assert "publication 1 is in" in message and "not in PostgreSQL postgresql://postgres@127.0.0.1:1/prefab" in message
    assert "Connection refused" in message and "Rerun the publish task" in message
    assert warehouse_rows(s, "select publication_id from dq.publication_log") == [(1,)]  # not lost
    assert warehouse_rows(s, "select target, status from dq.publication_targets") == [
        ("postgresql://postgres@127.0.0.1:1/prefab", "failed")]

    assert target_line(s, down.reporting_postgres_url).startswith(
        f"PostgreSQL {target_name(down.reporting_postgres_url)}: publication 1 MISSING there (")

    rerun = publish(s, "r1")  # the server is back (here: the configured one)
    assert not rerun.published and rerun.publication_id == 1
    assert live(url) == (1, 1)
    assert target_line(s, url).startswith(f"PostgreSQL {target_name(url)}: publication 1 complete (loaded ")
    assert warehouse_rows(s, "select publication_id, count(*) from dq.publication_log group by 1") == [(1, 1)]


def test_switch_gives_up_on_a_reader_left_in_a_transaction_and_names_it(target, monkeypatch):
    s, url, roles = target
    publish_n(s, 1)
    alice = login_role(url, roles["prefab_analyst"], roles["alice"])
    monkeypatch.setattr("publishing.postgres.SWITCH_WAIT_SECONDS", 2.0)
    with psycopg.connect(alice) as idle:  # not autocommit: the select leaves a transaction open on the views
        idle.execute("select count(*) from reporting.fct_building").fetchall()
        with pytest.raises(PostgresTargetMissing, match=rf"stayed in use .*{roles['alice']}, idle in transaction"):
            publish_n(s, 2)
        assert live(url) == (1, 1)  # the previous publication, whole
        idle.rollback()  # the analyst's transaction ends
    rerun = publish(s, "r2")
    assert not rerun.published and live(url) == (2, 2)


def pg_building_total(url: str) -> Decimal:
    return pg.rows(url, "select sum(prefab_floor_area_m2) from reporting.fct_building")[0][0]


def test_rollback_switches_postgresql_to_the_same_older_publication(target):
    s, url, roles = target
    for n in (1, 2, 3):
        assert publish_n(s, n).published
    assert live(url) == (3, 3) and [i for i, _ in kept(s)] == [1, 2, 3]

    done = rollback(s)
    assert (done.from_publication_id, done.to_publication_id) == (3, 2)
    assert sha256_file(s.reporting_path) == sha256_file(kept(s)[1][1])
    assert live(url) == (2, 2) and pg_building_total(url) == building_total(2)  # PostgreSQL as the file
    assert done.postgres.startswith(f"PostgreSQL {target_name(url)}: publication 2 loaded")
    assert pg.schemas(url) == ["reporting", "reporting_p2"]
    assert target_line(s, url).startswith(f"PostgreSQL {target_name(url)}: publication 2 complete (loaded ")

    again = publish(s, "r4", checks_passed=1, checks_warned=0)  # the night after: the candidate is still 3's
    assert not again.published and "rolled back" in again.reason
    assert "publication 2 already there" in again.postgres and live(url) == (2, 2)

    assert publish_n(s, 5).published  # new figures are published to both
    assert live(url)[0] == 4 and pg_building_total(url) == building_total(5)


def test_rollback_is_refused_when_postgresql_cannot_take_the_older_publication(target):
    s, url, roles = target
    assert publish_n(s, 1).published
    assert publish_n(s, 2, indicators="wider").published  # publication 2 adds expected_units
    pg.execute(url, "create view public.units_expected as select unit_code, expected_units "
                    "from reporting.fct_indicators_daily")  # an analyst's view on the new column
    before = sha256_file(s.reporting_path)

    with pytest.raises(RollbackRefused) as refused:
        rollback(s)
    message = str(refused.value)
    assert message.startswith("回滚未执行") and "public.units_expected" in message and "expected_units" in message
    assert sha256_file(s.reporting_path) == before and live(url) == (2, 2)  # neither side changed
    assert rolled_back_entries(s) == []
    assert target_line(s, url).startswith(f"PostgreSQL {target_name(url)}: publication 2 complete")

    pg.execute(url, "drop view public.units_expected")  # its owner drops it: the rollback goes through
    done = rollback(s)
    assert (done.from_publication_id, done.to_publication_id) == (2, 1)
    assert live(url) == (1, 1) and pg_building_total(url) == building_total(1)
    assert "expected_units" not in [c for c, _ in pg.rows(
        url, "select column_name, 1 from information_schema.columns where table_schema = 'reporting' "
             "and table_name = 'fct_indicators_daily'")]
