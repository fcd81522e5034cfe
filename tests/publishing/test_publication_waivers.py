"""Honest publication rows: a publication that went out under a steward's waiver says so (`checks_waived`,
`waived_checks` naming each check and who waived it), in reporting.duckdb's `publication` and in
`dq.publication_log`; a clean one says 0. Warehouses from before these columns get them, keeping their rows."""

from __future__ import annotations

import duckdb
import pytest

from foundation.db import connect_warehouse
from publishing.build import build
from steward.decisions import record_review
from tests.helpers.gate import RECONCILIATION, corrupt_candidate, nightly_gate_and_publish
from tests.helpers.landing import HEADER, land, row, run
from tests.helpers.warehouse import warehouse_rows

COLUMNS = "publication_id, run_id, checks_waived, waived_checks"


@pytest.mark.slow
def test_a_waived_blocking_check_is_named_in_the_publication_row(data_env):
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"), 1000)
    run(s, "r1")
    gate, pub = nightly_gate_and_publish(s, "r1", build(s))
    assert gate.passed and pub.published

    land(s, "330411_2020-03.csv", HEADER + row("330411", "2020-03", "P2", "1#", "2020-03-08", "800", "400"), 2000)
    run(s, "r2")
    candidate = build(s)
    corrupt_candidate(s, "330411")
    gate, pub = nightly_gate_and_publish(s, "r2", candidate)
    assert not gate.passed and pub is None  # blocked: no publication row

    record_review(s, "wang.steward", "check", RECONCILIATION, "waive", "known rounding issue, ticket 42")
    gate, pub = nightly_gate_and_publish(s, "r3", candidate)
    assert gate.passed and pub.published and pub.publication_id == 2

    expected = [(1, "r1", 0, None), (2, "r3", 1, f"{RECONCILIATION} (waived by wang.steward)")]
    con = duckdb.connect(str(s.reporting_path), read_only=True)
    try:
        assert con.execute(f"select {COLUMNS} from publication order by 1").fetchall() == expected
    finally:
        con.close()
    assert warehouse_rows(s, f"select {COLUMNS} from dq.publication_log order by 1") == expected


def test_an_existing_warehouse_gets_the_publication_waiver_columns(data_env):
    """A publication_log from before `checks_waived`/`waived_checks`: opening the warehouse for writing adds
    them at the end (the published table is `select *` of it), its rows kept with null: not recorded then."""
    s = data_env
    s.data_dir.mkdir(parents=True)
    con = duckdb.connect(str(s.warehouse_path))
    con.execute("create schema dq; create table dq.publication_log (publication_id integer primary key, run_id "
                "varchar not null, published_at timestamp not null, data_as_of date, submissions_included integer "
                "not null, checks_passed integer not null, checks_warned integer not null, content_checksum "
                "varchar not null)")
    con.execute("insert into dq.publication_log values (1, 'old', now(), null, 3, 10, 0, 'x')")
    con.close()
    with connect_warehouse(s) as con:
        columns = [r[0] for r in con.execute("describe dq.publication_log").fetchall()]
        rows = con.execute(f"select {COLUMNS} from dq.publication_log").fetchall()
    assert columns[-3:] == ["content_checksum", "checks_waived", "waived_checks"]
    assert rows == [(1, "old", None, None)]
