"""The ingestion stages on small hand-written landing zones: ledger outcomes, corrections, duplicates,
conservation and idempotence (the stage functions, as the DAG's tasks call them)."""

from __future__ import annotations

import dataclasses
import os

import duckdb
import pytest

from foundation import bilingual
from ingestion import stages
from tests.helpers.landing import HEADER, land, ledger, row, run
from tests.helpers.warehouse import warehouse_rows


def raw_buildings(settings) -> list[tuple]:
    return warehouse_rows(settings, "select unit_code, project_code, building_no, prefab_floor_area_m2::double "
                                    "from raw.buildings order by all")


@pytest.fixture
def landing(data_env):
    s = data_env
    t0 = 1_600_000_000
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + row("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "2500"), t0)
    land(s, "330411_2020-03.csv", HEADER, t0 + 1)  # zero report
    land(s, "330421_2020-03.csv", HEADER, t0 + 2)  # another unit's zero report: the same bytes
    land(s, "330402_2020-03_重复.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + row("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "2500"), t0 + 3)  # re-sent
    land(s, "330424_2020-03.csv", HEADER + row("330424", "2020-03", "P9", "1#", "2020-03-09", "500", "100"), t0 + 4,
         encoding="gb18030")
    return s


def test_outcomes_and_conservation(landing):
    run(landing, "r1")
    got = ledger(landing)
    assert got["330402_2020-03.csv"][:5] == ("loaded", 2, 1, 1, 0)  # prefab 2500 > total 2000: quarantined
    assert got["330411_2020-03.csv"][:5] == ("loaded", 0, 0, 0, 0)
    assert got["330421_2020-03.csv"][:5] == ("loaded", 0, 0, 0, 0)  # same bytes, other unit: not a duplicate
    assert got["330402_2020-03_重复.csv"][0] == "duplicate"
    assert "330402_2020-03.csv" in got["330402_2020-03_重复.csv"][5]
    assert got["330424_2020-03.csv"][:3] == ("loaded", 1, 1)
    assert raw_buildings(landing) == [("330402", "P1", "1#", 600.0), ("330424", "P9", "1#", 100.0)]


def test_rerun_loads_nothing(landing):
    run(landing, "r1")
    before = (ledger(landing), raw_buildings(landing))
    result = run(landing, "r2")
    assert result["discover"] == {"landed": 5, "new": 0, "recovered": 0, "waiting": []}
    assert (ledger(landing), raw_buildings(landing)) == before


def test_correction_replaces_exactly_its_slice(landing):
    run(landing, "r1")
    land(landing, "330402_2020-03_更正.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "700")
         + row("330402", "2020-03", "P1", "3#", "2020-03-07", "800", "400"), 1_700_000_000)
    run(landing, "r2")
    got = ledger(landing)
    assert got["330402_2020-03.csv"][0] == "superseded"
    assert got["330402_2020-03_更正.csv"][:3] == ("loaded", 2, 2)
    assert raw_buildings(landing) == [("330402", "P1", "1#", 700.0), ("330402", "P1", "3#", 400.0),
                                      ("330424", "P9", "1#", 100.0)]
    con = duckdb.connect(str(landing.warehouse_path), read_only=True)
    statuses = con.execute("select q.status from dq.quarantined_rows q join dq.submission_ledger l "
                           "using (submission_id) where l.file_name = '330402_2020-03.csv'").fetchall()
    history = con.execute("select status from dq.submission_status_log s join dq.submission_files f "
                          "using (submission_id) where f.file_name = '330402_2020-03.csv' "
                          "order by recorded_at").fetchall()
    con.close()
    assert statuses == [("fixed",)]  # its quarantined row was replaced by the correction
    assert history == [("loaded",), ("superseded",)]  # nothing erased: the ledger keeps both


def test_unknown_unit_and_bad_name_rejected_with_reason(data_env):
    land(data_env, "999999_2020-03.csv", HEADER, 1)
    land(data_env, "330402-2020-03.csv", HEADER, 2)
    land(data_env, "330402_2020-13.csv", HEADER, 3)
    run(data_env, "r1")
    got = ledger(data_env)
    assert {name: v[0] for name, v in got.items()} == dict.fromkeys(got, "rejected")
    assert "999999" in got["999999_2020-03.csv"][5]
    assert "does not follow" in got["330402-2020-03.csv"][5]
    assert len(got) == 3


def test_unknown_unit_code_on_a_row_is_named_in_its_reason(data_env):
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330499", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + row("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "600"), 1_600_000_000)
    run(s, "r1")
    assert ledger(s)["330402_2020-03.csv"][:5] == ("loaded", 2, 1, 1, 0)
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        reasons = con.execute("select row_number, reasons from dq.quarantine").fetchall()
    finally:
        con.close()
    assert reasons == [(2, ["“填报单位代码”为 330499，文件名中的单位为 330402 ‖ "
                            "填报单位代码 unit_code is 330499; the file name says 330402"])]


def _outcome_of_run(settings) -> tuple:
    """Ledger, raw rows, quarantined rows with reasons and submission check results of a data folder."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        quarantined = con.execute("select f.file_name, q.row_number, q.reasons from dq.quarantined_rows q "
                                  "join dq.submission_files f using (submission_id) order by all").fetchall()
        checks = con.execute("select check_name, severity, status, failing_rows, detail from dq.check_results "
                             "where stage = 'submission' order by all").fetchall()
    finally:
        con.close()
    return ledger(settings), raw_buildings(settings), quarantined, checks


def test_files_checked_and_loaded_in_several_batches_give_the_same_outcome(landing, tmp_path, monkeypatch):
    """The read stage splits a kind's files into batches (memory stays bounded); checks and loads per batch
    must add up to the outcome of one batch: the same ledger, rows, quarantine reasons and check counts."""
    land(landing, "330481_2020-03.csv", HEADER + row("330481", "2020-03", "P5", "1#", "2020-04-02", "900", "100")
         + row("330481", "2020-03", "P5", "1#", "2020-03-02", "900", "100"), 1_600_000_010)  # 2 bad rows
    run(landing, "one_batch")
    expected = _outcome_of_run(landing)
    assert any(status == "fail" and failing == 2 for _, _, status, failing, _ in expected[3])  # a rule fails twice

    split = dataclasses.replace(landing, data_dir=tmp_path / "data_split")
    monkeypatch.setattr(stages, "BATCH_FILES", 1)
    seen = []
    real = stages.WorkDir.read_table
    monkeypatch.setattr(stages.WorkDir, "read_table", lambda self, name: seen.append(name) or real(self, name))
    run(split, "split")
    files = len(list((landing.landing_dir / "buildings").iterdir()))
    assert len({n for n in seen if n.startswith("rows_buildings_")}) == files  # a batch per file
    assert _outcome_of_run(split) == expected


def test_files_the_ledger_holds_unchanged_are_not_read_again(landing, monkeypatch):
    """Discover hashes only what is new by path, size or modification time (as rsync's quick check); a
    re-upload of the same size still counts as new. PREFAB_REHASH_LANDING hashes everything."""
    import ingestion.discover as discover

    run(landing, "r1")
    hashed: list[str] = []
    real = discover.sha256_of
    monkeypatch.setattr(discover, "sha256_of", lambda path: hashed.append(path.name) or real(path))
    land(landing, "330481_2020-03.csv", HEADER + row("330481", "2020-03", "P5", "1#", "2020-03-02", "900", "100"),
         1_700_000_000)
    resent = landing.landing_dir / "buildings" / "330424_2020-03.csv"
    before = resent.read_bytes()
    resent.write_bytes(before.replace(b",500,", b",600,"))  # new bytes, same size, new mtime
    os.utime(resent, (1_700_000_100, 1_700_000_100))
    assert resent.stat().st_size == len(before)
    assert run(landing, "r2")["discover"] == {"landed": 6, "new": 2, "recovered": 0, "waiting": []}
    assert sorted(hashed) == ["330424_2020-03.csv", "330481_2020-03.csv"]
    con = duckdb.connect(str(landing.warehouse_path), read_only=True)
    try:  # the re-upload replaced its slice
        totals = con.execute("select unit_code, total_floor_area_m2::double from raw.buildings "
                             "where unit_code in ('330424', '330481') order by 1").fetchall()
    finally:
        con.close()
    assert totals == [("330424", 600.0), ("330481", 900.0)]

    hashed.clear()
    rehash = dataclasses.replace(landing, rehash_landing=True)
    assert run(rehash, "r3")["discover"] == {"landed": 6, "new": 0, "recovered": 0, "waiting": []}
    assert len(hashed) == 6


def _v(area: str) -> str:
    return HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", area)


@pytest.mark.parametrize("runs", [1, 3], ids=["one_run", "a_run_each"])
def test_the_last_file_wins_whatever_its_bytes(data_env, runs):
    """v1, its correction v2, then v1's bytes again: the re-send is a new submission that replaces v2 (the
    county took the correction back), not a duplicate of the superseded v1. Only bytes equal to the file
    loaded for the slice are a duplicate, and its reason names that file."""
    s = data_env
    files = [("330402_2020-03.csv", _v("600")), ("330402_2020-03_更正.csv", _v("700")),
             ("330402_2020-03_原版.csv", _v("600"))]
    for i, (name, text) in enumerate(files):
        land(s, name, text, 1_600_000_000 + i)
        if runs == 3 or i == len(files) - 1:
            run(s, f"r{i}")
    got = ledger(s)
    assert [got[name][0] for name, _ in files] == ["superseded", "superseded", "loaded"]
    assert "330402_2020-03_原版.csv" in got["330402_2020-03_更正.csv"][5]
    assert raw_buildings(s) == [("330402", "P1", "1#", 600.0)]

    land(s, "330402_2020-03_再发.csv", _v("600"), 1_600_000_010)  # the loaded file's bytes: a duplicate
    land(s, "330411_2020-03_同字节.csv", _v("600").replace("330402", "330411"), 1_600_000_011)
    run(s, "again")
    got = ledger(s)
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    holder = con.execute("select submission_id from dq.submission_files where file_name = '330402_2020-03_原版.csv'"
                         ).fetchone()[0]
    con.close()
    assert got["330402_2020-03_再发.csv"][0] == "duplicate"
    assert got["330402_2020-03_再发.csv"][5] == bilingual.join(
        f"与报送 {holder}（“330402_2020-03_原版.csv”）逐字节相同，该文件是单位 330402 期间 2020-03 已载入的数据："
        "内容没有变化，本文件不再载入",
        f"byte-identical to submission {holder} ('330402_2020-03_原版.csv'), the file loaded for the same unit "
        "330402 and period 2020-03: nothing changed")
    assert got["330402_2020-03_原版.csv"][0] == "loaded"
    assert got["330411_2020-03_同字节.csv"][0] == "loaded"  # another unit's slice: the same bytes are its own
    assert raw_buildings(s) == [("330402", "P1", "1#", 600.0), ("330411", "P1", "1#", 600.0)]


def _warnings(settings) -> dict[str, list[str]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return {name: list(w or []) for name, w in con.execute(
            "select file_name, warnings from dq.submission_ledger").fetchall()}
    finally:
        con.close()


@pytest.mark.parametrize("runs", [1, 2], ids=["one_run", "a_run_each"])
def test_a_building_reported_in_two_periods_warns_the_later_file(data_env, runs):
    s = data_env
    land(s, "330402_2020-01.csv", HEADER + row("330402", "2020-01", "P1", "1#", "2020-01-05", "1000", "600")
         + row("330402", "2020-01", "P1", "2#", "2020-01-06", "1000", "600"), 1_600_000_000)
    if runs == 2:
        run(s, "r1")
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "700")
         + row("330402", "2020-03", "P2", "1#", "2020-03-06", "1000", "600"), 1_600_000_100)
    run(s, "r2")
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    earlier = con.execute("select submission_id from dq.submission_files where file_name = '330402_2020-01.csv'"
                          ).fetchone()[0]
    con.close()
    got = _warnings(s)
    assert got["330402_2020-01.csv"] == []
    assert got["330402_2020-03.csv"] == [bilingual.join(
        f"本文件有 1 个单体已在“330402_2020-01.csv”（单位 330402，期间 2020-01，报送 {earlier}）中报送过：项目代码 "
        "单体编号 P1 1#；一个单体只在其开工的月份报送一次：如果是同一批单体，请从其中一个文件中删除"
        "（按较晚的文件计一次）",
        f"1 building(s) of this file already reported in '330402_2020-01.csv' (unit 330402, period 2020-01, "
        f"submission {earlier}): 项目代码 单体编号 project_code building_no P1 1#; a building is reported once, in "
        "the month it started: if they are the same buildings, remove them from one of the files (they are counted "
        "once, from the later file)")]
    assert ledger(s)["330402_2020-03.csv"][:3] == ("loaded", 2, 2)

    # a correction of the same period is not a second report; nor is its earlier version once superseded
    land(s, "330402_2020-01_更正.csv", HEADER + row("330402", "2020-01", "P1", "2#", "2020-01-06", "1000", "600"),
         1_600_000_200)
    run(s, "r3")
    assert _warnings(s)["330402_2020-01_更正.csv"] == []
