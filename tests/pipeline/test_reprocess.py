"""Reprocessing: after a setting is fixed, the archived files of one slice re-read through today's stages give
the same reporting figures as a fresh load of the same files under the fixed setting; files outside the slice
are untouched and the ledger keeps what the old rules said."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from foundation.config import settings
from ingestion.reprocess import Slice
from pipeline.reprocess import STAGES, reprocess
from publishing.publish import REPORTING_TABLES
from tests.helpers.e2e import pipeline_env
from tests.helpers.landing import HEADER, land
from tests.helpers.landing import row as building
from tests.helpers.nightly import nightly_without_airflow
from tests.helpers.warehouse import warehouse_rows

CALENDAR = ("select unit_code, strftime(month, '%Y-%m'), has_arrived, arrived_file_count, rejected_file_count "
            "from dq.missing_submissions where month between '2020-03-01' and '2020-05-01' order by all")
SLICE = {"kind": "buildings", "unit_code_pattern": "3304*", "period_from": "2020-03", "period_to": "2020-04"}


def reporting(path) -> dict[str, list[tuple]]:
    """Every reporting table's rows, sorted, without submission_id (a reprocessed file is a new version)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for t in REPORTING_TABLES:
            columns = [r[0] for r in con.execute(f"describe {t}").fetchall() if r[0] != "submission_id"]
            out[t] = con.execute(f"select {', '.join(columns)} from {t} order by all").fetchall()
        return out
    finally:
        con.close()


def land_three(s) -> None:
    land(s, "330402_2020-03.csv", HEADER + building("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + building("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "900"), 1_580_000_000)
    land(s, "330411_2020-04.csv", HEADER + building("330411", "2020-04", "P2", "1#", "2020-04-08", "800", "400"),
         1_580_000_001)
    land(s, "330402_2020-05.csv", HEADER + building("330402", "2020-05", "P3", "1#", "2020-05-08", "500", "300"),
         1_580_000_002)


def ledger(s) -> dict[str, list[tuple]]:
    rows = warehouse_rows(s, "select file_name, submission_id, status, reason from dq.submission_ledger "
                             "order by file_name, processed_at")
    out: dict[str, list[tuple]] = {}
    for name, sid, status, reason in rows:
        out.setdefault(name, []).append((sid, status, reason))
    return out


@pytest.mark.slow
def test_reprocess_of_a_slice_re_reads_the_archive_and_equals_a_fresh_load(data_env, monkeypatch, tmp_path):
    s = data_env
    land_three(s)
    monkeypatch.setenv("PREFAB_EARLIEST_PERIOD", "2020-04")  # a wrong setting: the March file is rejected
    assert nightly_without_airflow(settings(), "r1").published
    before = ledger(s)
    assert before["330402_2020-03.csv"][0][1] == "rejected"
    monkeypatch.delenv("PREFAB_EARLIEST_PERIOD")  # the fix
    shutil.rmtree(s.landing_dir)  # the files are only in the archive now
    s.landing_dir.mkdir()

    records = reprocess(s, "reprocess-1", SLICE)
    assert records["select"].files == 2 and records["publish"].published
    after = ledger(s)
    (old_march, new_march), (old_april, new_april) = after["330402_2020-03.csv"], after["330411_2020-04.csv"]
    assert old_march[0] == before["330402_2020-03.csv"][0][0] and old_march[1] == "superseded"
    assert "reprocessed by run reprocess-1" in old_march[2] and new_march[0] in old_march[2]
    assert new_march[1:] == ("loaded", None) and new_april[1:] == ("loaded", None)
    assert old_april[1] == "superseded" and new_april[0] != old_april[0]
    assert after["330402_2020-05.csv"] == before["330402_2020-05.csv"]  # outside the slice: untouched
    march = warehouse_rows(s, "select building_no, prefab_floor_area_m2 from raw.buildings "
                              "where submission_id = ? order by 1", [new_march[0]])
    assert [(b, float(a)) for b, a in march] == [("1#", 600.0), ("2#", 900.0)]

    fresh = tmp_path / "fresh"
    land_three(type("FreshLanding", (), {"landing_dir": fresh / "landing"})())  # the same files, mtimes
    with pipeline_env(fresh):
        assert nightly_without_airflow(settings(), "f1").published
        fresh_path = settings().reporting_path
        fresh_calendar = warehouse_rows(settings(), CALENDAR)
    assert reporting(s.reporting_path) == reporting(fresh_path)
    # The submission calendar counts files, not ledger versions: the April file, loaded then reprocessed, is
    # one file (not two), as in the fresh load.
    calendar = warehouse_rows(s, CALENDAR)
    assert calendar == fresh_calendar
    assert ("330411", "2020-04", True, 1, 0) in calendar and ("330402", "2020-03", True, 1, 0) in calendar


def test_the_slice_is_validated_with_a_reason():
    assert Slice.from_params(SLICE) == Slice("buildings", "3304*", "2020-03", "2020-04")
    assert Slice.from_params({"kind": "targets", "unit_code_pattern": "33*", "period_from": "2020",
                              "period_to": "2021-06"}) == Slice("targets", "33*", "2020", "2021")
    for bad, words in (({"kind": "houses"}, "kind must be one of"),
                       ({"unit_code_pattern": "33%; drop"}, "unit_code_pattern"),
                       ({"period_from": "2020"}, "period_from is YYYY-MM for buildings"),
                       ({"period_to": "2020-13"}, "period_to"),
                       ({"period_from": "2020-05", "period_to": "2020-04"}, "is after period_to")):
        with pytest.raises(ValueError, match=words):
            Slice.from_params(SLICE | bad)


def test_reprocess_dag_wires_the_stages_and_validates_its_params(airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    from foundation.config import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["prefab_reprocess"]
    assert [t.task_id for t in dag.topological_sort() if t.task_id != "announce"] == [s.name for s in STAGES] + [
        "summary"]
    assert [s.name for s in STAGES] == ["select", "read", "check", "load", "dbt_build", "gate", "publish"]
    # the asset (which schedules prefab_bulletin) only from announce, after publish, as in the nightly DAG
    assert dag.get_task("publish").outlets == [] and dag.get_task("announce").upstream_task_ids == {"publish"}
    assert [(o.name, o.uri) for o in dag.get_task("announce").outlets] == [
        (o.name, o.uri) for o in bag.dags["prefab_nightly"].get_task("announce").outlets]
    params = ParamsDict(dag.params)
    params.update(SLICE)
    assert params.validate() == SLICE
    for bad in ({"kind": "houses"}, {"unit_code_pattern": "33%"}, {"period_to": "April"}):
        broken = ParamsDict(dag.params)
        with pytest.raises(ParamValidationError, match="Invalid input"):  # what a trigger with this conf gets
            broken.update(SLICE | bad)
