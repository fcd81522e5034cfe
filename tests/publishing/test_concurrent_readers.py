"""Analysts reading `reporting.duckdb` while the pipeline publishes: readers in other processes, each query on a
new read-only connection, never fail and never see a mix of two publications. And a stale `.wal` beside the
published file never breaks a publication."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from decimal import Decimal

import duckdb
import pytest

from foundation.db import connect_warehouse
from publishing.publish import REPORTING_TABLES, publish
from tests.helpers.landing import HEADER, land, row
from tests.helpers.nightly import nightly_without_airflow

AS_OF = "2020-12-31"
READER = textwrap.dedent(f"""
    import json, os, sys, time
    import duckdb
    path, out, stop = sys.argv[1:4]
    q = ("select (select max(publication_id) from publication), (select count(*) from publication), "
         "(select sum(prefab_floor_area_m2)::varchar from fct_building), "
         "(select ytd_prefab_floor_area_m2::varchar from fct_indicators_daily "
         " where unit_code = '330400' and as_of_date = date '{AS_OF}')")
    with open(out, "a", encoding="utf-8") as f:
        while not os.path.exists(stop):
            started = time.time()
            try:
                con = duckdb.connect(path, read_only=True)  # a new connection every time
                try:
                    rec = {{"t": started, "row": list(con.execute(q).fetchone())}}
                finally:
                    con.close()
            except Exception as e:
                rec = {{"t": started, "error": f"{{type(e).__name__}}: {{e}}"}}
            f.write(json.dumps(rec) + "\\n")
            f.flush()
            time.sleep(0.2)  # an analyst's pace; the pipeline shares two cores with the readers
""")


def landing_text(prefab_1: int) -> str:
    """The whole 330402 2020-03 submission: building 1# with `prefab_1` m², building 2# with 400 m²."""
    return (HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", str(prefab_1))
            + row("330402", "2020-03", "P1", "2#", "2020-03-06", "1000", "400"))


def read_records(paths) -> list[list[dict]]:
    return [[json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()] for p in paths]


@pytest.mark.slow
def test_readers_during_publications_never_fail_nor_mix(data_env, tmp_path):
    s = data_env
    t0 = 1_600_000_000
    prefab_1_by_publication = {1: 600, 2: 700, 3: 800, 4: 900}  # what the test lands, per publication
    # both buildings start in 2020 in unit 330402 (city 330400): every figure read is 1# + 400
    expected = {pid: (pid, pid, Decimal(p1 + 400), Decimal(p1 + 400)) for pid, p1 in prefab_1_by_publication.items()}

    land(s, "330402_2020-03.csv", landing_text(prefab_1_by_publication[1]), t0)
    first = nightly_without_airflow(s, "r1")
    assert first.published and first.publication_id == 1

    outs = [tmp_path / f"reader{i}.jsonl" for i in range(2)]
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(s.reporting_path), str(out), str(stop)])
               for out in outs]
    try:
        deadline = time.monotonic() + 30
        while not all(o.exists() and o.stat().st_size > 0 for o in outs):  # every reader is reading
            assert time.monotonic() < deadline, "readers did not start"
            assert all(r.poll() is None for r in readers), "a reader died"
            time.sleep(0.05)
        for pid in (2, 3, 4):
            land(s, f"330402_2020-03_更正{pid - 1}.csv", landing_text(prefab_1_by_publication[pid]), t0 + 1000 * pid)
            pub = nightly_without_airflow(s, f"r{pid}")
            assert pub.published and pub.publication_id == pid, pub.reason
        time.sleep(1.0)  # new connections see the last publication
        assert all(r.poll() is None for r in readers), "a reader died"
    finally:
        stop.touch()
        for r in readers:
            try:
                r.wait(timeout=30)
            except subprocess.TimeoutExpired:
                r.kill()

    per_reader = read_records(outs)
    records = [rec for recs in per_reader for rec in recs]
    errors = [rec["error"] for rec in records if "error" in rec]
    assert errors == [], errors[:5]
    seen = set()
    for rec in records:
        pid, count, total, ytd = rec["row"]
        assert pid in expected, rec
        assert (pid, count, Decimal(total), Decimal(ytd)) == expected[pid], rec  # one publication, never a mix
        seen.add(pid)
    for recs in per_reader:  # a new connection never goes back to an older publication
        ids = [rec["row"][0] for rec in recs]
        assert ids == sorted(ids)
    assert len(seen) >= 2, seen
    assert 4 in seen
    assert len(records) >= 20, len(records)
    assert not s.reporting_path.with_name(s.reporting_path.name + ".wal").exists()


# --- a stale WAL beside the published file (fast: the marts are written by hand, no dbt) ---

ORPHAN_WAL = textwrap.dedent("""
    import os, sys, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("pragma disable_checkpoint_on_shutdown")
    con.execute("set wal_autocheckpoint = '1TB'")
    con.execute("create table t as select 1 as x")
    con.execute("checkpoint")
    con.execute("insert into t values (2)")
    os._exit(0)  # dies with its WAL on disk, as a crashed writer would
""")


def write_candidate(settings, prefab: int) -> None:
    with connect_warehouse(settings) as con:
        con.execute("create schema if not exists marts")
        for t in REPORTING_TABLES:
            con.execute(f"create or replace table marts.{t} as select 'x' as k")
        con.execute("create or replace table marts.fct_building as "
                    f"select date '2020-03-05' as start_date, {prefab}::decimal(18, 2) as prefab_floor_area_m2")


def orphan_wal(tmp_path) -> bytes:
    """The WAL of another database, left by a writer that died: it makes every open of a file beside it fail."""
    other = tmp_path / "other.duckdb"
    subprocess.run([sys.executable, "-c", ORPHAN_WAL, str(other)], check=True)
    return other.with_name(other.name + ".wal").read_bytes()


def published_total(path) -> float:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return float(con.execute("select sum(prefab_floor_area_m2) from fct_building").fetchone()[0])
    finally:
        con.close()


@pytest.mark.parametrize("changed", [True, False], ids=["new-publication", "nothing-new"])
def test_stale_wal_beside_the_published_file_does_not_break_publication(data_env, tmp_path, changed):
    s = data_env
    write_candidate(s, 600)
    assert publish(s, "r1", checks_passed=1, checks_warned=0).publication_id == 1
    wal = s.reporting_path.with_name(s.reporting_path.name + ".wal")
    wal.write_bytes(orphan_wal(tmp_path))
    with pytest.raises(duckdb.Error, match="WAL"):  # what the stale WAL does to every reader
        duckdb.connect(str(s.reporting_path), read_only=True).close()

    if changed:
        write_candidate(s, 750)
    pub = publish(s, "r2", checks_passed=1, checks_warned=0)

    assert pub.published is changed
    assert pub.publication_id == (2 if changed else 1)
    assert not wal.exists()
    assert published_total(s.reporting_path) == (750.0 if changed else 600.0)
