"""Incremental dbt builds give the marts a full build gives.

Months 1..n are loaded and built; then month n+1 lands with a correction of an old month (a building
changed, one dropped, one added), a correction that empties a zone's old month, a building reported again in
a later month of the next year, a corrected and a new annual target, and a month of a new year. The
incremental build of that state must equal a full build of the same files (every reporting table, by the
publication's content checksum, and fct_indicators_daily row by row), and so must a `--full-refresh` of it.

The building chain (int_buildings_deduplicated -> int_buildings_assessed -> fct_building) is incremental too,
on the building key: each of its tables must equal the full build's row by row, and a marker on a building
nothing touched survives the incremental build while one on a corrected building is overwritten.

That the incremental build kept history instead of recomputing it is shown with a marker: a figure of a
unit-year nothing touched is altered in the candidate before the incremental build and survives it, while a
marker on a unit-year the correction touched is overwritten."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pytest

from foundation.template import fields
from publishing import parse_seed
from publishing.build import build
from publishing.publish import CANDIDATE_SCHEMA, content_checksum
from publishing.unchanged import project_fingerprint
from tests.helpers.landing import HEADER, land, row, run

pytestmark = pytest.mark.slow

T0 = 1_600_000_000
TARGETS_HEADER = ",".join(f.zh for f in fields("targets")) + "\n"

# (file name, text) in landing order; buildings unless the name starts with "targets/".
FIRST = [
    ("330424_2020-02.csv", HEADER + row("330424", "2020-02", "P7", "1#", "2020-02-29", "800.10", "300.05")),
    ("330402_2020-11.csv", HEADER + row("330402", "2020-11", "P1", "1#", "2020-11-05", "1000", "600")
     + row("330402", "2020-11", "P1", "2#", "2020-11-20", "1500.55", "0")),
    ("330402_2020-12.csv", HEADER + row("330402", "2020-12", "P2", "1#", "2020-12-31", "2000", "900")
     + row("330402", "2020-12", "P2", "2#", "2020-12-01", "700", "350")),
    ("330471_2020-12.csv", HEADER + row("330471", "2020-12", "P3", "1#", "2020-12-10", "1200", "1200")),
    ("140105_2021-01.csv", HEADER + row("140105", "2021-01", "P4", "1#", "2021-01-15", "3000", "1000")),
    ("330411_2021-01.csv", HEADER + row("330411", "2021-01", "P5", "1#", "2021-01-02", "640", "320")),
    ("330402_2021-02.csv", HEADER + row("330402", "2021-02", "P6", "1#", "2021-02-28", "900", "450")),
    ("targets/330000_2021.csv", TARGETS_HEADER + "330000,2021,100000,80000,30\n330400,2021,20000,15000,\n"
     "330402,2021,5000,,\n"),
]
NEXT = [
    # month n+1: a new building, and P6 1# reported again (started in March now)
    ("330402_2021-03.csv", HEADER + row("330402", "2021-03", "P8", "1#", "2021-03-01", "1100", "1000")
     + row("330402", "2021-03", "P6", "1#", "2021-03-02", "950", "500")),
    # correction of an old month: P2 1# changed, P2 2# dropped, P9 1# added
    ("330402_2020-12_更正.csv", HEADER + row("330402", "2020-12", "P2", "1#", "2020-12-30", "2100", "1000")
     + row("330402", "2020-12", "P9", "1#", "2020-12-15", "400", "400")),
    # the zone's December corrected to a zero report: its only building leaves
    ("330471_2020-12_更正.csv", HEADER),
    # a year new to the calendar
    ("330424_2022-01.csv", HEADER + row("330424", "2022-01", "P10", "1#", "2022-01-03", "500", "250")),
    # the province's targets corrected (city and county rows dropped), and a new county target
    ("targets/330000_2021_更正.csv", TARGETS_HEADER + "330000,2021,120000,90000,35\n"),
    ("targets/330411_2021.csv", TARGETS_HEADER + "330411,2021,3000,2000,\n"),
]
UNTOUCHED = ("140105", 2020)  # Shanxi in 2020 (no buildings): nothing in NEXT touches it
TOUCHED = ("330400", 2020)  # Jiaxing 2020: the December corrections


def land_files(settings, files, first_mtime: int) -> None:
    for i, (name, text) in enumerate(files):
        kind, _, file_name = name.rpartition("/")
        land(settings, file_name, text, first_mtime + i, kind=kind or "buildings")


def marts(settings) -> tuple[str, list[tuple]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(f"select * from {CANDIDATE_SCHEMA}.fct_indicators_daily "
                           "order by unit_code, as_of_date").fetchall()
        return content_checksum(con, CANDIDATE_SCHEMA), rows
    finally:
        con.close()


CHAIN = ("intermediate.int_buildings_deduplicated", "intermediate.int_buildings_assessed",
         f"{CANDIDATE_SCHEMA}.fct_building")
UNTOUCHED_BUILDING = ("P4", "1#")  # Shanxi's only building: nothing in NEXT touches its slice
TOUCHED_BUILDING = ("P2", "1#")  # corrected in 330402's December
DROPPED_BUILDING = ("P2", "2#")  # the correction no longer lists it


def chain(settings) -> dict[str, list[tuple]]:
    """Every row of the building chain's tables, in key order (the remarks marker included), but the time each
    row was loaded (the two warehouses loaded the same files at different times)."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return {t: con.execute(f"select * exclude (loaded_at) from {t} order by project_code, building_no"
                               if "intermediate" in t else f"select * from {t} order by project_code, building_no"
                               ).fetchall() for t in CHAIN}
    finally:
        con.close()


def mark_building(settings, key: tuple[str, str], value: str | None) -> int:
    """Sets the remarks of a building in every table of the chain; returns how many rows it set."""
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        return sum(con.execute(f"update {t} set remarks = ? where project_code = ? and building_no = ?",
                               [value, *key]).fetchone()[0] for t in CHAIN)
    finally:
        con.close()


def building_remarks(settings, key: tuple[str, str]) -> list:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return [r[0] for t in CHAIN for r in con.execute(
            f"select remarks from {t} where project_code = ? and building_no = ?", key).fetchall()]
    finally:
        con.close()


def set_marker(settings, unit_year: tuple[str, int], value: int) -> int:
    """Sets ytd_building_count of a unit-year's rows; returns how many rows it set."""
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        return con.execute(f"update {CANDIDATE_SCHEMA}.fct_indicators_daily set ytd_building_count = ? "
                           "where unit_code = ? and year = ?", [value, *unit_year]).fetchone()[0]
    finally:
        con.close()


def count_marked(settings, unit_year: tuple[str, int], value: int) -> int:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(f"select count(*) from {CANDIDATE_SCHEMA}.fct_indicators_daily "
                           "where unit_code = ? and year = ? and ytd_building_count = ?",
                           [*unit_year, value]).fetchone()[0]
    finally:
        con.close()


def successful(result) -> None:
    failed = [(n.name, n.status, n.message) for n in result.nodes if n.status not in ("success", "pass")]
    assert result.returncode == 0 and not failed, failed


def test_incremental_build_equals_full_build(data_env, tmp_path):
    # the same files, built all at once
    full = replace(data_env, landing_dir=tmp_path / "full" / "landing", data_dir=tmp_path / "full" / "data")
    land_files(full, FIRST, T0)
    land_files(full, NEXT, T0 + 100)
    run(full, "full")
    parse_seed.unit_tests_path(full).unlink(missing_ok=True)  # as if no data folder had built this project yet
    first_build = build(full)
    assert first_build.full_refresh and first_build.unit_tests_run
    assert parse_seed.unit_tests_passed(full) == project_fingerprint(full.dbt_project_dir)
    successful(first_build)
    expected_checksum, expected_rows = marts(full)
    expected_chain = chain(full)
    assert not any(r[:2] == DROPPED_BUILDING for r in expected_chain[CHAIN[-1]])

    # months 1..n, then n+1 and the corrections, built incrementally
    s = data_env
    land_files(s, FIRST, T0)
    run(s, "r1")
    first_here = build(s)
    successful(first_here)
    # the first build of this data folder: a full refresh, without the unit tests the other folder passed
    assert first_here.full_refresh and not first_here.unit_tests_run
    assert not any(n.resource_type == "unit_test" for n in first_here.nodes)
    land_files(s, NEXT, T0 + 100)
    run(s, "r2")
    assert set_marker(s, UNTOUCHED, -7) == 366
    assert set_marker(s, TOUCHED, -7) == 366
    untouched_remarks = building_remarks(s, UNTOUCHED_BUILDING)
    assert mark_building(s, UNTOUCHED_BUILDING, "marker") == 3
    assert mark_building(s, TOUCHED_BUILDING, "marker") == 3
    incremental = build(s)
    assert not incremental.full_refresh and not incremental.unit_tests_run
    successful(incremental)
    assert count_marked(s, UNTOUCHED, -7) == 366, "an untouched unit-year was recomputed"
    assert count_marked(s, TOUCHED, -7) == 0, "a corrected unit-year was not recomputed"
    set_marker(s, UNTOUCHED, 0)  # its true figure: no buildings in 2020
    assert building_remarks(s, UNTOUCHED_BUILDING) == ["marker"] * 3, "an untouched building was recomputed"
    assert "marker" not in building_remarks(s, TOUCHED_BUILDING), "a corrected building was not recomputed"
    mark_building(s, UNTOUCHED_BUILDING, untouched_remarks[0])  # its true remarks
    assert chain(s) == expected_chain
    checksum, rows = marts(s)
    assert rows == expected_rows
    assert checksum == expected_checksum

    # a full refresh of the same state gives the same again
    refreshed = build(s, full_refresh=True)
    assert refreshed.full_refresh
    successful(refreshed)
    assert marts(s) == (expected_checksum, expected_rows)
    assert chain(s) == expected_chain
