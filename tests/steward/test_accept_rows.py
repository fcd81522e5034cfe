"""Accept and load (issue 15): a quarantined row whose every failed rule is overridable (expectations/rules.py)
is accepted by a steward and loaded, as reported, by the next run's load stage; any other row is refused; the
row follows its file's version; reopening takes it out; a lost warehouse rebuilt from the journal and the
archive holds it again; the app offers the button only where it is allowed.

Real landing files through the real stages (discover to load; the slow test runs the whole night with dbt)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from starlette.testclient import TestClient

from expectations.rules import overridable, rules
from foundation.config import PROJECT_ROOT
from steward.decisions import NotAcceptable, record_review
from tests.helpers.landing import HEADER, land, row, run
from tests.helpers.steward import configure, sign_in
from tests.helpers.warehouse import warehouse_rows

FILE = "330402_2020-03.csv"
# Row 2 passes; row 3 is a building started in February reported in the March file (start_date_in_period only);
# row 4 has a prefab area above its total (prefab_not_above_total); row 5 breaks both.
TEXT = (HEADER
        + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
        + row("330402", "2020-03", "P2", "1#", "2020-02-20", "1500", "900")
        + row("330402", "2020-03", "P3", "1#", "2020-03-06", "2000", "2500")
        + row("330402", "2020-03", "P4", "1#", "2020-02-10", "500", "800"))
RAW = ("select submission_id, row_number, unit_code, period, project_code, building_no, start_date, "
       "total_floor_area_m2, prefab_floor_area_m2, score_q1, received_at from raw.buildings "
       "order by submission_id, row_number")


def _submission(s, name: str = FILE) -> str:
    return warehouse_rows(s, "select submission_id from dq.submission_files where file_name = ?", [name])[0][0]


def _statuses(s, sid: str) -> dict[int, str]:
    return dict(warehouse_rows(s, "select row_number, status from dq.quarantined_rows where submission_id = ?",
                               [sid]))


def _raw_keys(s) -> list[tuple]:
    return warehouse_rows(s, "select submission_id, row_number from raw.buildings order by all")


@pytest.fixture
def quarantined(data_env):
    """Run r1 on the file: (settings, its submission id)."""
    s = data_env
    land(s, FILE, TEXT, 1_600_000_000)
    run(s, "r1")
    return s, _submission(s)


def test_only_start_date_in_period_is_declared_overridable(data_env):
    assert overridable("buildings") == {"start_date_in_period"}
    assert overridable("production_bases") == overridable("targets") == frozenset()
    assert {r.name for r in rules("buildings")} >= {"start_date_in_period", "start_date_plausible",
                                                    "prefab_not_above_total", "period_matches_file"}


def test_quarantined_rows_keep_the_rules_they_fail(quarantined):
    s, sid = quarantined
    got = {r: sorted(names) for r, names in warehouse_rows(
        s, "select row_number, rules from dq.quarantine where submission_id = ?", [sid])}
    assert got == {3: ["start_date_in_period"], 4: ["prefab_not_above_total"],
                   5: ["prefab_not_above_total", "start_date_in_period"]}
    assert _raw_keys(s) == [(sid, 2)]


def test_accept_is_refused_unless_every_failed_rule_is_overridable(quarantined):
    s, sid = quarantined
    for r, named in ((4, "prefab_not_above_total"), (5, "prefab_not_above_total")):
        with pytest.raises(NotAcceptable) as refused:
            record_review(s, "wang", "quarantined_row", f"{sid}:{r}", "accept", "looks fine")
        text = str(refused.value)
        assert named in text and "不允许数据管理员接受" in text and "may not override" in text
        assert "start_date_in_period" not in text  # only the rules that forbid it are named
    assert warehouse_rows(s, "select count(*) from dq.steward_reviews")[0][0] == 0
    with pytest.raises(ValueError, match="only a quarantined row"):
        record_review(s, "wang", "submission", sid, "accept", "x")


def test_accepted_row_is_loaded_once_as_reported_then_taken_out_when_reopened(quarantined):
    s, sid = quarantined
    received = warehouse_rows(s, "select received_at from dq.submission_files where submission_id = ?", [sid])[0][0]
    record_review(s, "wang", "quarantined_row", f"{sid}:3", "accept", "late report of a February start")
    assert _statuses(s, sid) == {3: "accepted", 4: "open", 5: "open"}
    assert _raw_keys(s) == [(sid, 2)]  # not before the next run
    loaded = run(s, "r2")["load"]
    assert (loaded["rows_accepted"], loaded["rows_unaccepted"], loaded["rows_loaded"]) == (1, 0, 0)
    got = [tuple(str(v) for v in r[:10]) for r in warehouse_rows(s, RAW)]
    assert got == [(sid, "2", "330402", "2020-03-01", "P1", "1#", "2020-03-05", "1000.00", "600.00", "30.00"),
                   (sid, "3", "330402", "2020-03-01", "P2", "1#", "2020-02-20", "1500.00", "900.00", "30.00")]
    assert warehouse_rows(s, RAW)[1][10] == received
    # the ledger's counts are the file's as received: the row stays counted as quarantined
    assert warehouse_rows(s, "select rows_received, rows_loaded, rows_quarantined from dq.submission_ledger "
                             "where submission_id = ?", [sid]) == [(4, 1, 3)]
    assert warehouse_rows(s, "select kind, submission_id, row_number from dq.accepted_rows_loaded") == \
        [("buildings", sid, 3)]

    again = run(s, "r3")["load"]  # idempotent: never loaded twice
    assert (again["rows_accepted"], again["rows_unaccepted"]) == (0, 0)
    assert _raw_keys(s) == [(sid, 2), (sid, 3)]

    record_review(s, "wang", "quarantined_row", f"{sid}:3", "reopen", "the county says the date is wrong")
    assert _statuses(s, sid)[3] == "open"
    out = run(s, "r4")["load"]
    assert (out["rows_accepted"], out["rows_unaccepted"]) == (0, 1)
    assert _raw_keys(s) == [(sid, 2)]


def test_accepted_row_follows_its_file_when_a_correction_supersedes_it(quarantined):
    s, sid = quarantined
    record_review(s, "wang", "quarantined_row", f"{sid}:3", "accept", "late report")
    run(s, "r2")
    assert _raw_keys(s) == [(sid, 2), (sid, 3)]
    land(s, "330402_2020-03_更正.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "700"),
         1_600_000_100)
    run(s, "r3")
    correction = _submission(s, "330402_2020-03_更正.csv")
    assert _raw_keys(s) == [(correction, 2)]  # the superseded file's rows left, the accepted one with them
    assert _statuses(s, sid)[3] == "fixed"
    assert run(s, "r4")["load"]["rows_accepted"] == 0  # a superseded file's accepted row is not loaded again


def test_lost_warehouse_is_rebuilt_with_the_accepted_row(quarantined):
    s, sid = quarantined
    record_review(s, "wang", "quarantined_row", f"{sid}:3", "accept", "late report")
    run(s, "r2")
    before = warehouse_rows(s, RAW)
    s.warehouse_path.unlink()  # lost: the journal and the archive remain
    shutil.rmtree(s.landing_dir)
    s.landing_dir.mkdir()
    rebuilt = run(s, "r3")
    assert rebuilt["load"]["rows_accepted"] == 1
    assert warehouse_rows(s, RAW) == before
    assert _statuses(s, sid) == {3: "accepted", 4: "open", 5: "open"}


def _rows(page: str) -> dict[int, str]:
    """The quarantine table's rows of a submission page: row number -> its HTML."""
    table = page.split('<table id="quarantine">', 1)[1].split("<h2>", 1)[0]
    return {int(part.split('"', 1)[0]): part for part in table.split('<tr id="row-')[1:]}


def test_the_page_offers_accept_only_on_rows_whose_rules_are_all_overridable(quarantined, monkeypatch):
    from foundation.config import settings
    from steward.app import create_app

    s, sid = quarantined
    configure(monkeypatch, s)
    with TestClient(create_app(settings()), base_url="http://testserver") as client:  # Chinese, the default
        sign_in(client, "wang")
        page = client.get(f"/submissions/{sid}").text
        rows = _rows(page)
        assert 'value="accept"' in rows[3] and "接受并入库" in rows[3]
        assert "下次夜间运行时按原值计入统计（按其开工日期计入相应月份）" in rows[3]
        assert "不允许数据管理员接受" not in rows[3]
        for r in (4, 5):
            assert 'value="accept"' not in rows[r] and "不允许数据管理员接受" in rows[r], r
        assert 'value="waive"' in rows[4]
        english = client.get(f"/submissions/{sid}", headers={"Accept-Language": "en"}).text
        assert "Accept and load" in english and "in the month of its start date" in english

        record_review(s, "wang", "quarantined_row", f"{sid}:3", "accept", "late report")
        page = client.get(f"/submissions/{sid}").text
        row3 = _rows(page)[3]
        assert "已接受" in row3 and 'value="reopen"' in row3 and 'value="accept"' not in row3
        assert "接受并入库" in client.get("/history").text  # the history's label of the decision


def _figures(s) -> dict[str, tuple]:
    """The published month figures of unit 330402: month -> (buildings, total area, prefab area)."""
    import duckdb

    con = duckdb.connect(str(s.reporting_path), read_only=True)
    try:
        rows = con.execute("select strftime(month, '%Y-%m'), sum(building_count), sum(total_floor_area_m2), "
                           "sum(prefab_floor_area_m2) from fct_prefab_floor_area_monthly where unit_code = '330402' "
                           "group by 1 order by 1").fetchall()
        buildings = con.execute("select project_code, building_no, start_date from fct_building "
                                "where unit_code = '330402' order by 1").fetchall()
    finally:
        con.close()
    return {m: (int(n), str(t), str(p)) for m, n, t, p in rows}, [(p, b, str(d)) for p, b, d in buildings]


@pytest.mark.slow
def test_accepted_row_enters_the_published_figures_in_its_start_month_and_leaves_when_reopened(quarantined):
    from pipeline.stages import run_stages
    from tests.helpers.nightly import nightly_without_airflow

    s, sid = quarantined
    # another county's building, so that taking the row out again is no collapse of the figures (the gate's
    # publication.collapse checks block a candidate that lost more than half of them)
    land(s, "330411_2020-03.csv", HEADER + row("330411", "2020-03", "P9", "1#", "2020-03-09", "3000", "2000"),
         1_600_000_001)
    assert nightly_without_airflow(s, "n1").published
    # from TEXT: only row 2 passed (P1, March, 1000 m², 600 m² prefab)
    assert _figures(s) == ({"2020-03": (1, "1000.00", "600.00")}, [("P1", "1#", "2020-03-05")])

    # the decision lands between a run's load and its build: that night builds without the row, the next one
    # loads it and must not skip as "nothing changed"
    run_stages(s, "n2", last="load")
    record_review(s, "wang", "quarantined_row", f"{sid}:3", "accept", "late report of a February start")
    run_stages(s, "n2", first="dbt_build")
    assert _figures(s)[0] == {"2020-03": (1, "1000.00", "600.00")}
    assert nightly_without_airflow(s, "n3").published
    # row 3 (P2, started 2020-02-20, 1500 m², 900 m² prefab) counts in February, its start month
    assert _figures(s) == ({"2020-02": (1, "1500.00", "900.00"), "2020-03": (1, "1000.00", "600.00")},
                           [("P1", "1#", "2020-03-05"), ("P2", "1#", "2020-02-20")])
    assert run_stages(s, "n4")["dbt_build"].skipped  # nothing changed since

    record_review(s, "wang", "quarantined_row", f"{sid}:3", "reopen", "the county says the date is wrong")
    assert nightly_without_airflow(s, "n5").published
    assert _figures(s) == ({"2020-03": (1, "1000.00", "600.00")}, [("P1", "1#", "2020-03-05")])


def test_a_value_that_could_not_be_read_is_never_accepted(data_env):
    s = data_env
    # a February building (start_date_in_period) whose total area is no number
    land(s, "330402_2020-04.csv", HEADER + row("330402", "2020-04", "P1", "1#", "2020-04-05", "1000", "600")
         + row("330402", "2020-04", "P2", "1#", "2020-02-20", "一千", "900"), 1_600_000_000)
    run(s, "r1")
    sid = _submission(s, "330402_2020-04.csv")
    failed = warehouse_rows(s, "select rules from dq.quarantine where submission_id = ? and row_number = 3", [sid])
    assert "values_readable" in failed[0][0] and "start_date_in_period" in failed[0][0]
    with pytest.raises(NotAcceptable, match="values_readable"):
        record_review(s, "wang", "quarantined_row", f"{sid}:3", "accept", "x")


def test_a_warehouse_from_before_the_rules_column_gets_it_and_its_rows_are_not_accepted(quarantined):
    import duckdb

    from foundation.db import connect_warehouse

    s, sid = quarantined
    con = duckdb.connect(str(s.warehouse_path))
    try:  # as an older warehouse: no rules column (the views that read it are rebuilt by the schema)
        con.execute("drop view dq.accepted_rows_loaded")
        con.execute("drop view dq.quarantined_rows")
        con.execute("alter table dq.quarantine drop column rules")
    finally:
        con.close()
    with connect_warehouse(s) as con:  # the schema brought up to date
        assert con.execute("select count(*), count(rules) from dq.quarantine").fetchone() == (3, 0)
    assert _statuses(s, sid) == {3: "open", 4: "open", 5: "open"}
    with pytest.raises(NotAcceptable, match="quarantined before the rules it fails were kept"):
        record_review(s, "wang", "quarantined_row", f"{sid}:3", "accept", "late report")
    assert run(s, "r2")["load"]["rows_accepted"] == 0


def test_the_command_line_accepts_a_row_and_refuses_another(quarantined):
    s, sid = quarantined

    def steward(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "steward", "review", *args, "--reviewer", "wang", "--note",
                               "late report"], cwd=PROJECT_ROOT, env=os.environ.copy(), capture_output=True,
                              text=True, timeout=120)

    done = steward("accept-row", sid, "3")
    assert done.returncode == 0 and f"recorded accept on quarantined_row {sid}:3" in done.stdout
    refused = steward("accept-row", sid, "4")
    assert refused.returncode == 2 and "prefab_not_above_total" in refused.stderr
    assert "不允许数据管理员接受" in refused.stderr and "may not override" in refused.stderr
    assert _statuses(s, sid) == {3: "accepted", 4: "open", 5: "open"}
