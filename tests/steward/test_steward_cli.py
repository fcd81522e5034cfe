"""The stewards' one command line, as an operator runs it (`python -m steward ...` in a subprocess) on a real
warehouse loaded by the ingestion stages: review decisions and listings with their exit codes, the quarantine
export (CSV and the county's XLSX workbook), and waivers read as data (`dq.waivers_in_force`,
`dq.check_results.waived_by` / `waiver_review_id`)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import duckdb
import openpyxl
import pytest

from foundation import template
from foundation.config import PROJECT_ROOT
from foundation.db import connect_warehouse
from foundation.lock import warehouse_lock
from tests.helpers.landing import run
from tests.helpers.steward import FORMULA, XSS, land_quarantine_files

GATE_CHECK = "gx.reconciliation_prefab_floor_area"


def steward(*args: str) -> subprocess.CompletedProcess:
    """`python -m steward ARGS...` with the test's PREFAB_* environment."""
    return subprocess.run([sys.executable, "-m", "steward", *args], cwd=PROJECT_ROOT, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)


def add_gate_failure(settings, *check_names: str, run_id: str = "g1") -> None:
    """A gate run `run_id` whose blocking checks `check_names` (default: the reconciliation) failed."""
    with connect_warehouse(settings) as con:
        for name in check_names or (GATE_CHECK,):
            con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, failing_rows, "
                        "detail, checked_at) values (?, ?, 'gate', 'error', 'fail', 1, '1 unit-months differ', "
                        "'2026-01-01 02:00')", [run_id, name])


@pytest.fixture
def warehouse(data_env):
    """Run r1 loaded the quarantine files (rows 3, 5 and 6 of 330402 quarantined); gate run g1 failed."""
    land_quarantine_files(data_env)
    run(data_env, "r1")
    add_gate_failure(data_env)
    con = duckdb.connect(str(data_env.warehouse_path), read_only=True)
    try:
        ids = dict(con.execute("select file_name, submission_id from dq.submission_files").fetchall())
    finally:
        con.close()
    return data_env, ids


def test_help_names_every_command():
    result = steward("--help")
    assert result.returncode == 0
    for command in ("serve", "add-user", "review", "export"):
        assert command in result.stdout
    review = steward("review", "--help").stdout
    for sub in ("waive-check", "waive-row", "reject-submission", "request-resubmission", "reopen", "history",
                "open-failures", "resubmission-requests"):
        assert sub in review
    assert steward("review").returncode == 2 and steward("export").returncode == 2  # a subcommand is required


def test_review_decides_lists_and_exits_as_documented(warehouse):
    s, ids = warehouse
    failures = json.loads(steward("review", "open-failures", "--json").stdout)
    assert failures["run_id"] == "g1" and failures["failures"][0]["waived"] is False
    assert "NOT waived (blocks publication)" in steward("review", "open-failures").stdout

    waived = steward("review", "waive-check", GATE_CHECK, "--reviewer", "wang", "--note", "rounding, ticket 42")
    assert waived.returncode == 0 and f"recorded waive on check {GATE_CHECK}" in waived.stdout
    [decision] = json.loads(steward("review", "history", "--json").stdout)
    assert (decision["reviewer"], decision["decision"], decision["target_id"]) == ("wang", "waive", GATE_CHECK)
    failure = json.loads(steward("review", "open-failures", "--json").stdout)["failures"][0]
    assert (failure["waived_by"], failure["waiver_review_id"]) == ("wang", decision["review_id"])
    assert f"{GATE_CHECK}: waived by wang" in steward("review", "open-failures").stdout

    sid = ids["330402_2020-03.csv"]
    assert steward("review", "waive-row", sid, "5", "--reviewer", "wang", "--note", "checked by phone").returncode == 0
    assert steward("review", "request-resubmission", sid, "--reviewer", "wang", "--note", "areas").returncode == 0
    [request] = json.loads(steward("review", "resubmission-requests", "--json").stdout)
    assert request["submission_id"] == sid
    history = steward("review", "history", "--target-type", "quarantined_row").stdout
    assert f"wang  waive  quarantined_row {sid}:5  -- checked by phone" in history

    bad = steward("review", "waive-check", "gx.nope", "--reviewer", "wang", "--note", "ok")
    assert bad.returncode == 2 and "no check named 'gx.nope'" in bad.stderr
    assert steward("review", "reopen", "check", GATE_CHECK, "--reviewer", "li").returncode == 2  # --note required
    with warehouse_lock(s, owner="scheduled__2026-11-21"):
        busy = steward("review", "reject-submission", sid, "--reviewer", "wang", "--note", "x")
    assert busy.returncode == 1 and "scheduled__2026-11-21" in busy.stderr
    assert len(json.loads(steward("review", "history", "--json").stdout)) == 3  # nothing recorded while busy


def test_export_quarantine_csv_and_the_county_workbook(warehouse, tmp_path):
    s, ids = warehouse
    out = tmp_path / "quarantine.csv"
    result = steward("export", "quarantine", str(out))
    assert result.returncode == 0 and f"3 open quarantined rows written to {out}" in result.stdout
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["行号"] for r in rows] == ["3", "5", "6"]
    assert XSS in rows[1].values() and "'" + FORMULA in rows[1].values()  # kept as text, never a formula

    sid = ids["330402_2020-03.csv"]
    book = tmp_path / "back.xlsx"
    result = steward("export", "quarantine", str(book), "--format", "xlsx", "--submission", sid)
    assert result.returncode == 0 and "3 quarantined rows of 330402_2020-03.csv" in result.stdout
    ws = openpyxl.load_workbook(io.BytesIO(book.read_bytes())).active
    assert [c.value for c in ws[1]] == [f.zh for f in template.fields("buildings")] + ["行号", "问题说明"]
    assert [r[0].value for r in ws.iter_rows(min_row=2, min_col=len(template.fields("buildings")) + 1)] == [3, 5, 6]

    only_other = steward("export", "quarantine", str(out), "--submission", ids["330411_2020-03.csv"])
    assert only_other.returncode == 0 and "0 open quarantined rows" in only_other.stdout
    missing = steward("export", "quarantine", str(book), "--format", "xlsx")
    assert missing.returncode == 2 and "--submission" in missing.stderr
    unknown = steward("export", "quarantine", str(book), "--format", "xlsx", "--submission", "S-nope")
    assert unknown.returncode == 2 and "no submission 'S-nope'" in unknown.stderr


# --- waivers as data -----------------------------------------------------------------------------------------

def waivers_in_force(settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute("select check_name, reviewer, review_id from dq.waivers_in_force").fetchall()
    finally:
        con.close()


def test_waivers_in_force_last_until_the_next_publication(data_env):
    from steward.decisions import open_failures, record_review

    s = data_env
    add_gate_failure(s, "gx.a", "gx.b")
    first = record_review(s, "wang", "check", "gx.a", "waive", "ok")
    record_review(s, "li", "check", "gx.b", "waive", "ok")
    record_review(s, "li", "check", "gx.b", "reopen", "not after all")
    assert waivers_in_force(s) == [("gx.a", "wang", first)]  # the latest decision counts
    assert [(f["check_name"], f["waived_by"]) for f in open_failures(s)["failures"]] == [("gx.a", "wang"),
                                                                                          ("gx.b", None)]
    with connect_warehouse(s) as con:
        con.execute("insert into dq.publication_log (publication_id, run_id, published_at, data_as_of, "
                    "submissions_included, checks_passed, checks_warned, content_checksum) "
                    "values (1, 'g2', ?, null, 0, 0, 0, 'x')",
                    [datetime.now(UTC).replace(tzinfo=None)])  # as publish records it: UTC
    assert waivers_in_force(s) == []  # used up by that publication
    assert not any(f["waived"] for f in open_failures(s)["failures"])


def test_an_existing_warehouse_gets_the_waiver_columns(data_env):
    """A warehouse created before the waiver columns: opening it for writing adds them, keeping its rows."""
    s = data_env
    s.data_dir.mkdir(parents=True)
    con = duckdb.connect(str(s.warehouse_path))
    con.execute("create schema dq; create table dq.check_results (run_id varchar not null, check_name varchar not "
                "null, stage varchar not null, severity varchar not null, status varchar not null, failing_rows "
                "bigint not null default 0, detail varchar, checked_at timestamp not null, report_url varchar)")
    con.execute("insert into dq.check_results values ('old', 'gx.a', 'gate', 'error', 'fail', 1, 'd', now(), null)")
    con.close()
    with connect_warehouse(s) as con:
        columns = [r[0] for r in con.execute("describe dq.check_results").fetchall()]
        rows = con.execute("select run_id, detail, waived_by, waiver_review_id from dq.check_results").fetchall()
    assert columns[-2:] == ["waived_by", "waiver_review_id"]
    assert rows == [("old", "d", None, None)]
