"""End to end: the real DAG (`dag.test()`) on a generated landing zone, checked against figures computed
independently from the generator's own records (pandas and Decimal, not the pipeline's code)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from foundation.config import PROJECT_ROOT
from tests.helpers.e2e import area_sum, pct, pipeline_env, query, run_nightly, sha256_file

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow")]


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
    out = subprocess.run([sys.executable, str(tool), str(nightly["settings"].data_dir)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
