"""The sample landing zone generator: deterministic, the files it announces, and a truth that matches the files.

The files are read back with a deliberately small reader of this module's own (not the pipeline's), enough
for what the generator writes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest

from foundation.template import fields
from sample_data import generate
from sample_data.model import month_bounds

JIAXING_UNITS = 9
ZH_TO_NAME = {f.zh: f.name for f in fields("buildings")}


@pytest.fixture(scope="module")
def jiaxing(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("landing_a"), units="jiaxing", buildings_per_month=3)


@pytest.fixture(scope="module")
def jiaxing_full(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("landing_full"), units="jiaxing")


def _hashes(folder):
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- a small reader for the generated files


def _rows(path) -> list[list]:
    data = path.read_bytes()
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        ws = next((wb[n] for n in ("装配式建筑", "buildings") if n in wb.sheetnames), wb.worksheets[0])
        return [list(r) for r in ws.iter_rows(values_only=True)]
    if data.startswith(b"\xff\xfe"):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
    sep = "\t" if "\t" in text.splitlines()[1 if len(text.splitlines()) > 1 else 0] else ","
    return list(csv.reader(io.StringIO(text), delimiter=sep))


def _date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    m = re.fullmatch(r"(\d{4})[-/年]?(\d{1,2})[-/月]?(\d{1,2})日?", str(value))
    return date(int(m[1]), int(m[2]), int(m[3]))


def read_buildings(path) -> dict[int, dict]:
    """Data rows by spreadsheet row number: start_date, areas in m² (Decimal), project_code, building_no."""
    rows = _rows(path)
    at = next(i for i, r in enumerate(rows) if r and r[0] in ("填报单位代码", "unit_code"))
    headers = [str(h or "") for h in rows[at]]
    names = [ZH_TO_NAME.get(re.split(r"[(（]", h)[0], h) for h in headers]
    out = {}
    for number, row in enumerate(rows[at + 1:], start=at + 2):
        first = str(row[0] or "")
        if first in ("合计", "Total") or first.startswith(("注", "Note")):
            continue
        rec = {}
        for header, name, value in zip(headers, names, row, strict=False):
            if name in ("total_floor_area_m2", "prefab_floor_area_m2"):
                try:
                    area = Decimal(str(value).replace(",", ""))
                except ArithmeticError:
                    area = None
                rec[name] = None if area is None else (area * 10000 if "万" in header else area).quantize(
                    Decimal("0.01"))
            elif name == "start_date":
                rec[name] = _date(value)
            else:
                rec[name] = value
        out[number] = rec
    return out


# ---------------------------------------------------------------- tests


def test_same_seed_same_bytes(jiaxing, tmp_path):
    again = generate(tmp_path / "landing_b", units="jiaxing", buildings_per_month=3)
    assert _hashes(jiaxing.landing) == _hashes(again.landing)
    assert [(f.path, f.sha256) for f in again.files] == [(f.path, f.sha256) for f in jiaxing.files]
    assert again.buildings.equals(jiaxing.buildings)
    other = generate(tmp_path / "landing_c", seed=7, units="jiaxing", buildings_per_month=3)
    assert _hashes(other.landing) != _hashes(jiaxing.landing)


def test_file_counts(jiaxing):
    buildings = jiaxing.files_with(kind="buildings")
    regular = [f for f in buildings if not f.extra]
    assert len(regular) == JIAXING_UNITS * 24
    assert {f.unit_code for f in regular} == set(jiaxing.unit_codes)
    assert all(sum(f.unit_code == u for f in regular) == 24 for u in jiaxing.unit_codes)
    assert {f.case for f in buildings if f.extra} == {"misnamed_file", "placeholder_unit", "correction",
                                                     "duplicate_copy"}
    on_disk = sorted(p.name for p in (jiaxing.landing / "buildings").iterdir())
    assert on_disk == sorted(f.name for f in buildings)
    assert [f.path for f in jiaxing.files_with(kind="targets")] == ["targets/330000_2020.csv",
                                                                    "targets/330000_2021.csv"]
    assert len(jiaxing.files_with(kind="production_bases")) % 2 == 0
    assert sum(f.data_rows for f in jiaxing.files) > 0


def test_mtimes_follow_received_order(jiaxing):
    for f in jiaxing.files:
        assert os.stat(jiaxing.landing / f.path).st_mtime == f.received_at.timestamp()
    original = next(f for f in jiaxing.files if f.case == "corrected_original")
    corrected = next(f for f in jiaxing.files if f.case == "correction")
    assert (corrected.unit_code, corrected.period) == (original.unit_code, original.period)
    assert corrected.received_at > original.received_at
    copy = next(f for f in jiaxing.files if f.case == "duplicate_copy")
    source = next(f for f in jiaxing.files if f.case == "duplicated_original")
    assert copy.sha256 == source.sha256 and copy.received_at > source.received_at


def test_files_agree_with_truth(jiaxing_full):
    """Every row of every loaded file: inside its month, and in the truth unless it is to be quarantined."""
    zone = jiaxing_full
    truth = zone.buildings.set_index(["file_name", "source_row"])
    seen = 0
    for f in zone.files_with(kind="buildings", outcome="loaded"):
        first, last = month_bounds(f.period)
        rows = read_buildings(zone.landing / f.path)
        assert len(rows) == f.data_rows
        for number, rec in rows.items():
            if number in f.expected_quarantined_rows:
                continue
            assert first <= rec["start_date"] <= last, (f.path, number)
            if (f.name, number) in truth.index:  # else reported again later, counted from the later file
                expected = truth.loc[(f.name, number)]
                assert (rec["project_code"], rec["building_no"]) == (expected.project_code, expected.building_no)
                assert float(rec["total_floor_area_m2"]) == expected.total_floor_area_m2
                assert float(rec["prefab_floor_area_m2"]) == expected.prefab_floor_area_m2
                assert expected.start_date == rec["start_date"]
                seen += 1
    assert seen == len(zone.buildings)


def test_truth_leaves_out_bad_rows_and_files(jiaxing_full):
    zone = jiaxing_full
    b = zone.buildings
    loaded = {f.name for f in zone.files_with(kind="buildings", outcome="loaded")}
    assert set(b.file_name) <= loaded
    assert not b.duplicated(["project_code", "building_no"]).any()
    quarantined = [(f, n) for f in zone.files for n in f.expected_quarantined_rows]
    assert len(quarantined) == 8
    for f, number in quarantined:
        assert f.expected_row_reasons[number]
        assert not ((b.file_name == f.name) & (b.source_row == number)).any()
    assert {r for f, _ in quarantined for r in f.expected_row_reasons[_]} == {
        "prefab_floor_area_m2", "start_date", "building_use", "total_floor_area_m2", "score_q1",
        "duplicate_key", "unit_code"}
    rejected = zone.files_with(outcome="rejected")
    assert {f.case for f in rejected} == {"misnamed_file", "placeholder_unit", "missing_column", "garbage_xlsx"}
    assert all(f.expected_reasons for f in rejected)
    again = next(f for f in zone.files if f.case == "reported_again")
    earlier = next(f for f in zone.files if f.case == "reported_earlier")
    assert "reported_again" in again.expected_warnings and earlier.received_at < again.received_at
    repeated = read_buildings(zone.landing / again.path)[max(read_buildings(zone.landing / again.path))]
    kept = b[(b.project_code == repeated["project_code"]) & (b.building_no == repeated["building_no"])]
    assert list(kept.file_name) == [again.name]
    assert (b.prefab_floor_area_m2 <= b.total_floor_area_m2).all()
    assert (b.start_date.map(lambda d: f"{d:%Y-%m}") == b.period).all()
    assert b.full_decoration.map(type).eq(bool).all()


def test_values_are_realistic(jiaxing_full):
    b = jiaxing_full.buildings
    assert b.total_floor_area_m2.between(2000, 60000 + 1234.56).all()
    assert set(b.grade.dropna()) == {"A", "AA", "AAA"}
    assert (b.computed_assembly_rate_pct < 60).any()
    assert 0.3 < b.recognised.mean() < 0.8
    cast = b[b.structure_system == "cast_in_place"]
    assert len(cast) and (cast.prefab_floor_area_m2 == 0).all()
    assert {"residential", "public"} <= set(b.building_use.value_counts().index[:2])
    assert set(jiaxing_full.targets.unit_code) >= {"330000", "330400", *jiaxing_full.unit_codes}


def test_retired_code_maps_to_successor(tmp_path):
    zone = generate(tmp_path, units="140404,140105", years=(2020,), buildings_per_month=2)
    retired = next(f for f in zone.files if f.case == "retired_code")
    assert retired.path.startswith("buildings/140421_2020-") and "retired_code" in retired.expected_warnings
    rows = zone.buildings[zone.buildings.file_name == retired.name]
    assert len(rows) and set(rows.unit_code) == {"140404"}


def test_no_bad(tmp_path):
    zone = generate(tmp_path, units="330402,330471", years=(2021,), buildings_per_month=2, bad=False)
    assert {f.expected_outcome for f in zone.files} == {"loaded"}
    assert not any(f.expected_quarantined_rows or f.expected_warnings or f.extra for f in zone.files)
    assert len(zone.files_with(kind="buildings")) == 2 * 12
