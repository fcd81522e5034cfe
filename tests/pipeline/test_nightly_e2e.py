"""End to end: the real DAG (`dag.test()`) on a generated landing zone, checked against figures computed
independently from the generator's own records (pandas and Decimal, not the pipeline's code)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from foundation.config import PROJECT_ROOT
from foundation.template import ENUMERATIONS
from tests.helpers.e2e import area_sum, pct, pipeline_env, query, run_nightly, sha256_file

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def nightly(tmp_path_factory, airflow_db):
    """One generated landing zone (Jiaxing, two years, with bad files), run through the DAG twice."""
    from foundation.config import settings
    from sample_data import generate

    root = tmp_path_factory.mktemp("e2e")
    with pipeline_env(root):
        gen = generate(root / "landing", seed=7, years=(2020, 2021), units="jiaxing", buildings_per_month=3)
        first = run_nightly()
        s = settings()
        reporting_after_first = sha256_file(s.reporting_path)
        ledger_after_first = query(s.warehouse_path, "select count(*) as n from dq.submission_files")["n"][0]
        second = run_nightly()
        yield {"gen": gen, "settings": s, "first": first, "second": second,
               "reporting_sha_first": reporting_after_first, "ledger_first": ledger_after_first}


def test_both_runs_succeed(nightly):
    assert nightly["first"].state == "success"
    assert nightly["second"].state == "success"


def test_every_file_accounted_for_with_expected_outcome(nightly):
    gen, s = nightly["gen"], nightly["settings"]
    ledger = query(s.warehouse_path, "select * from dq.submission_ledger")
    landed = sorted(p.relative_to(s.landing_dir).as_posix() for p in s.landing_dir.rglob("*") if p.is_file())
    assert sorted(ledger["landing_path"]) == landed
    assert {"loaded", "rejected", "superseded", "duplicate"} <= {f.expected_outcome for f in gen.files}
    by_path = ledger.set_index("landing_path")
    for f in gen.files:
        row = by_path.loc[f.path]
        assert row["status"] == f.expected_outcome, (f.path, row["reason"])
        if f.expected_outcome == "rejected":
            assert row["reason"], f.path


def test_conservation_and_archive(nightly):
    s = nightly["settings"]
    ledger = query(s.warehouse_path, "select * from dq.submission_ledger")
    ok = ledger[ledger["status"].isin(["loaded", "superseded"])]
    assert (ok["rows_received"] == ok["rows_loaded"] + ok["rows_quarantined"] + ok["rows_ignored"]).all()
    from pathlib import Path

    from ingestion.discover import sha256_of

    for path, sha in zip(ledger["archived_path"], ledger["sha256"], strict=True):
        assert sha256_of(Path(path)) == sha


def test_quarantined_rows_are_the_bad_rows(nightly):
    gen, s = nightly["gen"], nightly["settings"]
    got = query(s.warehouse_path, """select l.landing_path, q.row_number, q.reasons, q.raw
                                      from dq.quarantined_rows q join dq.submission_ledger l using (submission_id)""")
    expected = {(f.path, r) for f in gen.files if f.expected_outcome != "rejected"
                for r in f.expected_quarantined_rows}
    assert len(expected) >= 5, "the generator's bad rows are part of this landing zone"
    assert set(zip(got["landing_path"], got["row_number"], strict=True)) == expected
    assert all(len(r) >= 1 for r in got["reasons"])
    assert all(isinstance(json.loads(raw), dict) for raw in got["raw"])


def test_buildings_match_generated_truth(nightly):
    truth, s = nightly["gen"].buildings, nightly["settings"]
    got = query(s.reporting_path, "select * from fct_building")
    assert len(got) == len(truth)
    assert set(zip(got["project_code"], got["building_no"], strict=True)) == set(
        zip(truth["project_code"], truth["building_no"], strict=True))
    assert area_sum(got["prefab_floor_area_m2"]) == area_sum(truth["prefab_floor_area_m2"])
    merged = got.merge(truth, on=["project_code", "building_no"], suffixes=("", "_truth"))
    assert (merged["unit_code"] == merged["unit_code_truth"]).all()
    assert (merged["grade"].fillna("") == merged["grade_truth"].fillna("")).all()
    assert (merged["is_recognised_prefab"] == merged["recognised"]).all()


@pytest.mark.parametrize("year", [2020, 2021])
def test_year_end_indicators_for_every_level(nightly, year):
    truth, s = nightly["gen"].buildings, nightly["settings"]
    as_of = date(year, 12, 31)
    got = query(s.reporting_path, "select * from fct_indicators_daily where as_of_date = ?", [as_of])
    got = got.set_index("unit_code")
    in_year = truth[[d.year == year for d in truth["start_date"]]]
    prev_year = truth[[d.year == year - 1 for d in truth["start_date"]]]
    groups = {code: in_year[in_year["unit_code"] == code] for code in in_year["unit_code"].unique()}
    assert len(groups) == 9 and len(in_year) > 100
    groups["330400"] = in_year  # every generated unit is under Jiaxing ...
    groups["330000"] = in_year  # ... and Zhejiang
    for code, rows in groups.items():
        prefab = area_sum(rows["prefab_floor_area_m2"])
        total = area_sum(rows["total_floor_area_m2"])
        res_pub = area_sum(rows.loc[rows["building_use"].isin(["residential", "public"]), "prefab_floor_area_m2"])
        assert Decimal(str(got.loc[code, "ytd_prefab_floor_area_m2"])) == prefab, code
        assert Decimal(str(got.loc[code, "ytd_new_floor_area_m2"])) == total, code
        assert Decimal(str(got.loc[code, "ytd_res_pub_prefab_floor_area_m2"])) == res_pub, code
        assert Decimal(str(got.loc[code, "ytd_prefab_share_pct"])) == pct(prefab, total), code
        assert int(got.loc[code, "ytd_recognised_building_count"]) == int(rows["recognised"].sum()), code
        assert int(got.loc[code, "ytd_grade_aa_count"]) == int((rows["grade"] == "AA").sum()), code
        if code in ("330400", "330000"):
            base = area_sum(prev_year["prefab_floor_area_m2"])
            expected_yoy = None if base == 0 else pct(prefab - base, base)
            value = got.loc[code, "ytd_prefab_yoy_pct"]
            assert (None if value != value or value is None else Decimal(str(value))) == expected_yoy


def test_city_targets_are_their_own(nightly):
    gen, s = nightly["gen"], nightly["settings"]
    targets = gen.targets
    city = targets[(targets["unit_code"] == "330400") & (targets["year"] == 2021)]
    got = query(s.reporting_path, """select annual_target_prefab_floor_area_m2 as t from fct_indicators_daily
                                     where unit_code = '330400' and as_of_date = date '2021-06-30'""")
    assert Decimal(str(got["t"][0])) == area_sum(city["target_prefab_floor_area_m2"])


def test_second_run_loads_nothing_and_publishes_identical_data(nightly):
    s = nightly["settings"]
    assert query(s.warehouse_path, "select count(*) as n from dq.submission_files")["n"][0] == nightly["ledger_first"]
    assert sha256_file(s.reporting_path) == nightly["reporting_sha_first"]
    pubs = query(s.reporting_path, "select * from publication")
    assert len(pubs) == 1 and pubs["data_as_of"][0] is not None


def test_second_run_skips_dbt_gate_and_publication_in_airflow(nightly):
    """Nothing changed: Airflow shows the build, the gate and publication as skipped (not success), the
    summary still runs and says why."""
    states = {ti.task_id: ti.state for ti in nightly["second"].get_task_instances()}
    assert {t: states[t] for t in ("dbt_build", "gate", "publish")} == dict.fromkeys(
        ("dbt_build", "gate", "publish"), "skipped")
    assert states["load"] == "success" and states["summary"] == "success"
    first = {ti.task_id: ti.state for ti in nightly["first"].get_task_instances()}
    assert set(first.values()) == {"success"}


def test_contracts_are_met(nightly):
    tool = PROJECT_ROOT.parent / "shared" / "tools" / "check-contracts"
    if not tool.exists():
        pytest.skip(f"{tool} not found (the shared specs sit beside the repository)")
    out = subprocess.run([sys.executable, str(tool), "--version", "2", str(nightly["settings"].data_dir)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def _units(settings) -> list[dict]:
    """The reference list of units, read from the seed file itself."""
    with settings.reporting_units_path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _submitting(units: list[dict]) -> dict[str, dict]:
    """Current county-level units and zones by code."""
    return {u["unit_code"]: u for u in units if not u["valid_to"] and u["unit_level"] in ("county", "zone")}


def _ancestors(units: list[dict], code: str) -> list[str]:
    by_code = {u["unit_code"]: u for u in units}
    out = [code]
    while by_code[out[-1]]["parent_code"]:
        out.append(by_code[out[-1]]["parent_code"])
    return out


def test_units_without_a_submitting_unit_have_no_indicator_rows(nightly):
    """The Zhejiang cities other than Jiaxing have no county in the reference list: no rows, not zeros. Every
    other current unit has a row for each of the 731 days of 2020-2021."""
    s = nightly["settings"]
    units = _units(s)
    in_scope = {a for code in _submitting(units) for a in _ancestors(units, code)}
    current = {u["unit_code"] for u in units if not u["valid_to"]}
    outside = current - in_scope
    assert {"330100", "330200", "330300"} <= outside and "330400" in in_scope and "140000" in in_scope
    got = query(s.reporting_path, "select unit_code, count(*) as n from fct_indicators_daily group by unit_code")
    assert dict(zip(got["unit_code"], got["n"], strict=True)) == {code: 731 for code in in_scope}


@pytest.mark.parametrize("as_of", [date(2020, 3, 15), date(2021, 12, 31)])
def test_units_expected_and_reported(nightly, as_of):
    """units_expected: the current counties and zones below the unit; units_reported: those with a loaded (or
    loaded, then corrected) buildings file for a month of the year up to the day, from the generator's files."""
    gen, s = nightly["gen"], nightly["settings"]
    units = _units(s)
    submitting = _submitting(units)
    reported = {f.unit_code for f in gen.files_with(kind="buildings")
                if f.expected_outcome in ("loaded", "superseded") and f.unit_code in submitting
                and f.period[:4] == str(as_of.year) and f.period <= f"{as_of:%Y-%m}"}
    assert len(reported) >= 5
    got = query(s.reporting_path, "select unit_code, units_expected, units_reported from fct_indicators_daily "
                                  "where as_of_date = ?", [as_of]).set_index("unit_code")
    for code in ("330000", "330400", "140000", "140100", "330402", "330471"):
        below = {u for u in submitting if code in _ancestors(units, u)}
        assert got.loc[code, "units_expected"] == len(below), code
        assert got.loc[code, "units_reported"] == len(below & reported), code


def test_submission_status_from_the_generated_files(nightly):
    """Every current county and zone x every month that is due (from the first month with a loaded file to
    the month before this one, Asia/Shanghai), with its status, due date (last day of the following month)
    and overdue flag, computed from the generator's own record of the files."""
    gen, s = nightly["gen"], nightly["settings"]
    submitting = _submitting(_units(s))
    files = [f for f in gen.files_with(kind="buildings") if f.unit_code in submitting]
    accepted = [f for f in files if f.expected_outcome in ("loaded", "superseded")]
    loaded = {(f.unit_code, f.period): f for f in files if f.expected_outcome == "loaded"}
    rejected = {(f.unit_code, f.period) for f in files if f.expected_outcome == "rejected"}
    assert rejected and any(f.data_rows == 0 for f in loaded.values())
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()

    def months(first: date, last: date):
        while first <= last:
            yield first
            first = date(first.year + first.month // 12, first.month % 12 + 1, 1)

    first_month = min(date.fromisoformat(f.period + "-01") for f in accepted)
    last_due = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    expected = {}
    for code, u in submitting.items():
        valid_from = date.fromisoformat(u["valid_from"])
        for m in months(max(first_month, valid_from.replace(day=1)), last_due):
            key = (code, f"{m:%Y-%m}")
            if key in loaded:
                status = "zero_report" if loaded[key].data_rows == 0 else "received"
            else:
                status = "rejected" if key in rejected else "missing"
            following = date(m.year + m.month // 12, m.month % 12 + 1, 1)
            due = date(following.year + following.month // 12, following.month % 12 + 1, 1) - timedelta(days=1)
            expected[(code, m)] = (status, due, status in ("missing", "rejected") and today > due)
    got = query(s.reporting_path, "select unit_code, month, status, due_date, is_overdue from fct_submission_status")
    got = {(r.unit_code, r.month.date() if hasattr(r.month, "date") else r.month):
           (r.status, r.due_date.date() if hasattr(r.due_date, "date") else r.due_date, bool(r.is_overdue))
           for r in got.itertuples()}
    assert got == expected
    assert {v[0] for v in expected.values()} == {"received", "zero_report", "rejected", "missing"}


def test_every_coded_column_has_its_labels(nightly):
    """dim_<column>: code, name_zh, name_en of each enumeration of the template, and every code the fact
    tables use is in its dimension."""
    s = nightly["settings"]
    dims = {"dim_building_use": "building_use", "dim_structure_system": "structure_system",
            "dim_green_star": "green_star", "dim_grade": "grade", "dim_base_type": "base_type",
            "dim_base_status": "status", "dim_capacity_unit": "capacity_unit",
            "dim_submission_status": "submission_status"}
    for table, enum in dims.items():
        got = query(s.reporting_path, f"select code, name_zh, name_en from {table}")
        assert sorted(got.itertuples(index=False, name=None)) == sorted(
            (c.code, c.label_zh, c.en) for c in ENUMERATIONS[enum].codes), table
    uses = [("fct_building", "building_use", "dim_building_use"), ("fct_building", "structure_system",
            "dim_structure_system"), ("fct_building", "green_star", "dim_green_star"),
            ("fct_building", "grade", "dim_grade"), ("fct_production_bases", "base_type", "dim_base_type"),
            ("fct_production_bases", "status", "dim_base_status"),
            ("fct_production_bases", "capacity_unit", "dim_capacity_unit"),
            ("fct_submission_status", "status", "dim_submission_status")]
    for fact, column, dim in uses:
        unknown = query(s.reporting_path, f"select distinct f.{column} as c from {fact} f anti join {dim} d "
                                          f"on f.{column} = d.code where f.{column} is not null")
        assert unknown.empty, (fact, column, list(unknown["c"]))
