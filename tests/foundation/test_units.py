"""The reference list of reporting units (dbt_project/seeds/reporting_units.csv) and its resolver."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from foundation.units import COLUMNS, DEFAULT_PATH, UnitRegistry, UnknownUnit, load_units, read_units

# Verified against the MCA (民政部) GB/T 2260 list for 2025 and the NBS statistical division codes:
# 26 districts + 11 county-level cities + 80 counties.
SHANXI_CURRENT_COUNTY_LEVEL = 117

JIAXING_COUNTY_LEVEL = {
    "330402": "南湖区",
    "330411": "秀洲区",
    "330421": "嘉善县",
    "330424": "海盐县",
    "330481": "海宁市",
    "330482": "平湖市",
    "330483": "桐乡市",
}
JIAXING_ZONES = {"330471": "嘉兴经济技术开发区", "330472": "嘉兴港区"}

# old code -> (successor, first day of the new code)
SHANXI_2018_2019_CHANGES = {
    "140202": ("140213", date(2018, 2, 9)),  # 大同 城区 -> 平城区 (2 streets went to 云冈区)
    "140203": ("140214", date(2018, 2, 9)),  # 大同 矿区 -> 云冈区
    "140211": ("140214", date(2018, 2, 9)),  # 南郊区 -> 云冈区 (3 townships to 平城区, 古店镇 to 新荣区)
    "140227": ("140215", date(2018, 2, 9)),  # 大同县 -> 云州区
    "140402": ("140403", date(2018, 6, 19)),  # 长治 城区 -> 潞州区
    "140411": ("140403", date(2018, 6, 19)),  # 长治 郊区 -> 潞州区
    "140421": ("140404", date(2018, 6, 19)),  # 长治县 -> 上党区
    "140424": ("140405", date(2018, 6, 19)),  # 屯留县 -> 屯留区
    "140481": ("140406", date(2018, 6, 19)),  # 潞城市 -> 潞城区
    "140624": ("140681", date(2018, 8, 8)),  # 怀仁县 -> 怀仁市
    "140726": ("140703", date(2019, 12, 9)),  # 太谷县 -> 太谷区
}

TODAY = date(2025, 6, 30)


@pytest.fixture(scope="module")
def reg() -> UnitRegistry:
    return load_units()


def test_csv_header_and_no_duplicate_codes():
    with DEFAULT_PATH.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == COLUMNS
    codes = [r[0] for r in rows[1:]]
    assert len(codes) == len(set(codes))
    assert all(len(c) == 6 and c.isdigit() for c in codes)


def test_default_load_is_cached(reg):
    assert load_units() is reg
    assert len(load_units(DEFAULT_PATH)) == len(reg)


def test_provinces_and_cities(reg):
    assert [u.unit_code for u in reg.current("province", TODAY)] == ["140000", "330000"]
    assert reg.get("330000").unit_name_en == "Zhejiang Province"
    for province, first, last in (("140000", "140100", "141100"), ("330000", "330100", "331100")):
        cities = [u.unit_code for u in reg.children(province)]
        assert len(cities) == 11
        assert cities[0] == first and cities[-1] == last
        assert all(reg.get(c).unit_level == "city" for c in cities)
    assert reg.get("140100").unit_name_zh == "太原市"
    assert reg.get("141100").unit_name_zh == "吕梁市"
    assert reg.get("331100").unit_name_zh == "丽水市"


def test_jiaxing_units(reg):
    kids = reg.children("330400", on=TODAY)
    counties = {u.unit_code: u.unit_name_zh for u in kids if u.unit_level == "county"}
    zones = {u.unit_code: u.unit_name_zh for u in kids if u.unit_level == "zone"}
    assert counties == JIAXING_COUNTY_LEVEL
    assert zones == JIAXING_ZONES
    assert len(kids) == 9
    assert reg.get("330421").unit_name_en == "Jiashan County"
    assert reg.get("330481").unit_name_en == "Haining City"


def test_zones_have_statistical_codes_only(reg):
    zones = list(reg.current("zone", TODAY))
    assert {z.unit_code for z in zones} == set(JIAXING_ZONES)
    for zone in zones:
        assert zone.gbt2260_code is None
        # the county pair of the code (5th and 6th digits) starts with 7
        assert zone.unit_code[4] == "7"
        assert zone.parent_code == "330400"


def test_gbt2260_code_equals_unit_code_for_divisions(reg):
    for unit in reg:
        if unit.unit_level != "zone":
            assert unit.gbt2260_code == unit.unit_code


def test_every_county_and_zone_sits_under_a_city_of_its_province(reg):
    for unit in reg:
        if unit.unit_level in ("county", "zone"):
            city = reg.get(unit.parent_code)
            assert city.unit_level == "city"
            assert city.unit_code[:2] == unit.unit_code[:2]
            assert city.unit_code == unit.unit_code[:4] + "00"
            assert city.parent_code == unit.unit_code[:2] + "0000"
            assert reg.get(city.parent_code).unit_level == "province"
        elif unit.unit_level == "city":
            assert reg.get(unit.parent_code).unit_level == "province"
        else:
            assert unit.parent_code is None


def test_shanxi_counts(reg):
    cities = [u for u in reg.current("city", TODAY) if u.unit_code.startswith("14")]
    assert len(cities) == 11
    current = [u for u in reg.descendants("140000", on=TODAY) if u.unit_level == "county"]
    assert len(current) == SHANXI_CURRENT_COUNTY_LEVEL
    by_suffix = {s: sum(u.unit_name_zh.endswith(s) for u in current) for s in "区市县"}
    assert by_suffix == {"区": 26, "市": 11, "县": 80}


def test_every_retired_code_has_an_existing_current_successor(reg):
    retired = [u for u in reg if not u.is_current]
    assert {u.unit_code for u in retired} == set(SHANXI_2018_2019_CHANGES)
    for unit in retired:
        successor, starts = SHANXI_2018_2019_CHANGES[unit.unit_code]
        assert unit.successor_code == successor
        new = reg.get(successor)
        assert new.is_current
        assert new.valid_from == starts
        assert (starts - unit.valid_to).days == 1
        assert new.parent_code == unit.parent_code
    for unit in reg:
        if unit.is_current:
            assert unit.successor_code is None


def test_resolve_retired_code_maps_to_successor_with_warning(reg):
    res = reg.resolve("140421", date(2020, 1, 1))
    assert res.unit_code == "140404"
    assert res.warning is not None
    assert "140421 (长治县)" in res.warning and "140404 (上党区)" in res.warning
    assert "2018-06-19" in res.warning
    assert reg.resolve("140227", date(2024, 3, 1)).unit_code == "140215"
    assert reg.resolve("140726", date(2020, 1, 1)).unit_code == "140703"
    assert reg.resolve("140726").unit_code == "140703"  # default date: today


def test_resolve_code_valid_on_the_date_is_kept(reg):
    assert reg.resolve("140421", date(2018, 6, 18)).warning is None
    assert reg.resolve("140421", date(2018, 6, 18)).unit_code == "140421"
    assert reg.resolve("140421", date(2018, 6, 19)).unit_code == "140404"


def test_resolve_current_code_has_no_warning(reg):
    for code in ("140404", "330402", "330471", "141182"):
        res = reg.resolve(code, date(2024, 5, 1))
        assert res.unit_code == code and res.warning is None
    assert reg.resolve(" 330483 ").unit_code == "330483"


def test_resolve_new_code_before_it_existed_is_kept_with_warning(reg):
    res = reg.resolve("140404", date(2018, 1, 1))
    assert res.unit_code == "140404"
    assert res.warning is not None and "2018-06-19" in res.warning


@pytest.mark.parametrize(
    "code",
    ["000000", "999999", "123456", "111111", "", "   ", "14042", "1404211", "14042X", "140421.0", None],
)
def test_placeholders_and_malformed_codes_raise(reg, code):
    with pytest.raises(UnknownUnit) as info:
        reg.resolve(code, date(2024, 1, 1))
    assert info.value.reason
    assert "unit code" in str(info.value)


def test_unknown_but_well_formed_codes_raise(reg):
    for code in ("330102", "110101", "140171"):  # a Hangzhou district, Beijing, a Shanxi zone not listed
        with pytest.raises(UnknownUnit, match="not in the reference list"):
            reg.resolve(code, date(2024, 1, 1))
    with pytest.raises(UnknownUnit, match="placeholder"):
        reg.resolve("000000")
    with pytest.raises(UnknownUnit):
        reg.get("999999")


def test_hierarchy_helpers(reg):
    assert [u.unit_code for u in reg.ancestors("330471")] == ["330400", "330000"]
    assert [u.unit_code for u in reg.ancestors("140404")] == ["140400", "140000"]
    assert reg.ancestors("140000") == []
    assert reg.is_descendant_or_self("330472", "330000")
    assert reg.is_descendant_or_self("330400", "330400")
    assert not reg.is_descendant_or_self("140404", "330000")
    assert not reg.is_descendant_or_self("330000", "330400")
    all_changzhi = {u.unit_code for u in reg.children("140400")}
    now_changzhi = {u.unit_code for u in reg.children("140400", on=TODAY)}
    assert len(now_changzhi) == 12 and len(all_changzhi) == 17
    assert {"140402", "140411", "140421", "140424", "140481"} == all_changzhi - now_changzhi
    jiaxing_tree = {u.unit_code for u in reg.descendants("330000")}
    assert set(JIAXING_COUNTY_LEVEL) | set(JIAXING_ZONES) <= jiaxing_tree


def test_current_on_a_past_date_uses_the_old_codes(reg):
    before = {u.unit_code for u in reg.current("county", date(2017, 12, 31)) if u.unit_code.startswith("14")}
    assert "140421" in before and "140404" not in before
    assert len(before) == 119  # the 2017 list: 11 codes since retired, 9 of today's codes not yet created
    with pytest.raises(ValueError):
        list(reg.current("village"))


def test_registry_rejects_broken_lists(tmp_path):
    header = ",".join(COLUMNS)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"{header}\n330000,浙江省,Zhejiang Province,province,,330000,1980-01-01,,\n"
        "330400,嘉兴市,Jiaxing City,city,330000,330400,1980-01-01,2020-01-01,339999\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="successor_code 339999"):
        load_units(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text(
        f"{header}\n330000,浙江省,Zhejiang Province,province,,330000,1980-01-01,,\n"
        "330000,浙江省,Zhejiang Province,province,,330000,1980-01-01,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="duplicate"):
        UnitRegistry(read_units(dup))


def test_warnings_and_unknown_units_are_chinese_first_with_their_english_after(reg):
    from foundation import bilingual

    retired = reg.resolve("140421", date(2020, 1, 1)).warning
    assert bilingual.part(retired, "zh") == ("单位代码 140421 (长治县) 已自 2018-06-19 起撤销：已映射到其继任单位 "
                                            "140404 (上党区)")
    assert bilingual.part(retired, "en").startswith("unit code 140421 (长治县) was retired with effect from 2018-06-19")
    early = reg.resolve("140404", date(2018, 1, 1)).warning
    assert bilingual.part(early, "zh").startswith("单位代码 140404 (上党区) 自 2018-06-19 起才生效，晚于日期 "
                                                  "2018-01-01")
    assert bilingual.part(early, "en").endswith("kept as submitted")
    for code, zh in (("000000", "这是占位代码"), ("330499", "它不在报送单位名录中"), ("1404X1", "必须恰好是 6 位数字")):
        with pytest.raises(UnknownUnit) as info:
            reg.resolve(code, date(2024, 1, 1))
        head, en = info.value.bilingual.split(bilingual.SEPARATOR)
        assert head.startswith(f"单位代码“{code}”不是已知的报送单位：") and zh in head
        assert en == str(info.value) and en.startswith(f"unit code '{code}' is not a known reporting unit: ")
