"""Header matching and the normalisers of submission cells: examples and properties (hypothesis). The
normalisers are run on pandas Series through `tests.helpers.series_normalisers`."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from foundation import bilingual, template
from ingestion import headers as header_match
from ingestion import normalise as nz
from tests.helpers import series_normalisers as sn

FULL_WIDTH = {c: chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {0x20: "\u3000"}


def full_width(text: str) -> str:
    return text.translate(FULL_WIDTH)


def values(result: tuple[pd.Series, pd.Series]) -> list:
    return [None if pd.isna(v) else v for v in result[0].tolist()]


def errors(result: tuple[pd.Series, pd.Series]) -> list:
    """The English part of each error (every one also has its Chinese part: test_every_error_is_chinese_first)."""
    return [bilingual.part(e, "en") if isinstance(e, str) else e for e in result[1].tolist()]


def test_every_error_is_chinese_first_with_its_english_after() -> None:
    found = [*sn.normalise_area(pd.Series(["85%", "1,23", "abc"]))[1],
             *sn.normalise_date(pd.Series(["2021-02-29", "5/3/2020"]))[1],
             *sn.normalise_period(pd.Series(["2020-03-15", "2020-13", "March"]))[1],
             *sn.normalise_year(pd.Series(["21", "1850"]))[1]]
    assert len(found) == 10 and all(isinstance(e, str) for e in found)
    for e in found:
        zh, en = e.split(bilingual.SEPARATOR)
        assert re.search("[\u4e00-\u9fff]", zh) and re.search(" (is|has) ", en), e


# ---------------------------------------------------------------------------------------------------
# Headers


@pytest.mark.parametrize(
    ("header", "folded"),
    [
        (" 总建筑面积（万m²） ", "总建筑面积"),
        ("总建筑面积(m2)", "总建筑面积"),
        ("总建筑面积【平方米】", "总建筑面积"),
        ("总建筑面积[㎡]", "总建筑面积"),
        ("Unit_Code", "unitcode"),
        ("ＵＮＩＴ　ＣＯＤＥ", "unitcode"),
        ("*项目代码", "项目代码"),
        ("项目名称：", "项目名称"),
        ("装配率(%)", "装配率"),
        ("(m2)", "(m2)"),  # a header that is only a bracket keeps it
    ],
)
def test_fold_header_examples(header: str, folded: str) -> None:
    assert header_match.fold_header(header) == folded


@pytest.mark.parametrize(
    ("header", "factor"),
    [
        ("总建筑面积（万m²）", 10000.0),
        ("总建筑面积(万平方米)", 10000.0),
        ("总建筑面积(万㎡)", 10000.0),
        ("总建筑面积 (万 m2)", 10000.0),
        ("总建筑面积万㎡", 10000.0),
        ("total_floor_area_m2 (10,000 m²)", 10000.0),
        ("总建筑面积(m²)", 1.0),
        ("总建筑面积（平方米）", 1.0),
        ("总建筑面积[㎡]", 1.0),
        ("总建筑面积", None),
        ("装配率(%)", None),
        ("总建筑面积(公顷)", None),
    ],
)
def test_header_unit_factor(header: str, factor: float | None) -> None:
    assert header_match.header_unit_factor(header) == factor


def test_unknown_area_unit_is_flagged() -> None:
    assert header_match.is_unknown_area_unit("总建筑面积(公顷)")
    assert header_match.is_unknown_area_unit("总建筑面积（亩）")
    assert not header_match.is_unknown_area_unit("总建筑面积(万m²)")
    assert not header_match.is_unknown_area_unit("总建筑面积（必填）")


def test_match_headers_chinese_english_aliases_and_unknown() -> None:
    headers = ["序号", " 填报单位代码 ", "PERIOD", "Project Code", "项目名称", "building_no", "联系人",
               "总建筑面积（万m²）", "Total Floor Area", "装配式建筑面积万平方米", "是否全装修", ""]
    assert header_match.match_headers("buildings", headers) == {
        1: "unit_code", 2: "period", 3: "project_code", 4: "project_name", 5: "building_no",
        7: "total_floor_area_m2", 8: "total_floor_area_m2", 9: "prefab_floor_area_m2", 10: "full_decoration",
    }
    assert header_match.unknown_headers("buildings", headers) == {0: "序号", 6: "联系人"}
    # targets: its own Chinese header and the buildings' one as an alias
    assert header_match.match_headers("targets", ["单位代码", "填报单位代码", "年度"]) == {
        0: "unit_code", 1: "unit_code", 2: "year"}


header_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@given(header_texts)
@example("a(b)_")
@example("ａ（ｂ）")
@example("x (y) (z)")
def test_fold_header_is_idempotent(text: str) -> None:
    once = header_match.fold_header(text)
    assert header_match.fold_header(once) == once


canonical_headers = st.sampled_from(sorted({h for kind in template.KIND_FIELDS for f in template.fields(kind)
                                            for h in (f.zh, f.name)}))
units = st.sampled_from(["", "(m²)", "（万m²）", "[平方米]", "【万平方米】", " (m2)", "(%)"])


@given(canonical_headers, st.text(" \t\u3000", max_size=3), st.text(" \t\u3000", max_size=3), units,
       st.booleans(), st.booleans())
def test_fold_header_ignores_spaces_width_case_and_unit(header: str, before: str, after: str, unit: str,
                                                        wide: bool, upper: bool) -> None:
    variant = header.upper() if upper else header
    variant = full_width(variant) if wide else variant
    assert header_match.fold_header(before + variant + unit + after) == header_match.fold_header(header)


# ---------------------------------------------------------------------------------------------------
# Numbers and areas


def test_number_examples() -> None:
    cells = pd.Series(["1,234.5", "１２３", "  7 ", "—", "-", "/", "无", "", None, "12，345.6", "-3", "0.5",
                       "85%", "1,23", "abc", "1 234"])
    result = sn.normalise_number(cells)
    assert values(result) == [1234.5, 123.0, 7.0, None, None, None, None, None, None, 12345.6, -3.0, 0.5,
                              None, None, None, None]
    errs = errors(result)
    assert errs[:12] == [None] * 12
    assert errs[12] == "'85%' has a % sign, but this column is not a percentage"
    assert errs[13] == "'1,23' is not a number: thousands separators must group three digits, as in 1,234.5"
    assert errs[14] == "'abc' is not a number (expected digits such as 1234.5 or 1,234.5)"
    assert errs[15] is not None and "'1 234'" in errs[15]
    assert result[0].dtype == "Float64"


def test_percent_examples() -> None:
    result = sn.normalise_number(pd.Series(["85%", "85 ％", "62.5", "１００％", "—"]), percent=True)
    assert values(result) == [85.0, 85.0, 62.5, 100.0, None]
    assert errors(result) == [None] * 5


def test_number_keeps_the_index() -> None:
    cells = pd.Series(["1", "x"], index=[10, 20])
    result = sn.normalise_number(cells)
    assert list(result[0].index) == [10, 20]
    assert list(result[1].index) == [10, 20]
    assert result[1][10] is None and result[1][20] is not None


def test_area_scales_and_rounds() -> None:
    result = sn.normalise_area(pd.Series(["1.2345", "0.5", "１.２", "12,345.678901", "", "x"]), 10000)
    assert values(result) == [12345.0, 5000.0, 12000.0, 123456789.01, None, None]
    # half-up on the value as written, not on its binary approximation
    assert values(sn.normalise_area(pd.Series(["0.285", "1.005", "2.675", "-1.005"]))) == [0.29, 1.01, 2.68, -1.01]


@settings(max_examples=300)
@given(st.integers(min_value=-(10**13), max_value=10**13), st.sampled_from([",", "，"]), st.booleans(),
       st.text(" \u3000", max_size=2), st.text(" \u3000", max_size=2))
def test_number_round_trips_with_separators_and_full_width(cents: int, separator: str, wide: bool, left: str,
                                                            right: str) -> None:
    exact = Decimal(cents) / 100
    text = f"{exact:,.2f}".replace(",", separator)
    if wide:
        text = full_width(text)
    result = sn.normalise_number(pd.Series([left + text + right]))
    assert errors(result) == [None]
    assert values(result) == [float(exact)]


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**12))
def test_area_in_wan_round_trips_exactly(cents: int) -> None:
    in_wan = Decimal(cents) / 1_000_000  # cents of m² written in 万m² with 6 decimals
    result = sn.normalise_area(pd.Series([f"{in_wan:.6f}"]), 10000)
    assert values(result) == [float(Decimal(cents) / 100)]


# ---------------------------------------------------------------------------------------------------
# Dates, periods, years


def test_date_examples() -> None:
    cells = pd.Series(["2020-03-05", "2020/3/5", "2020年3月5日", "20200305", "43895", "43895.0", "2020.3.5",
                       "２０２０-０３-０５", "2020-03-05 00:00:00", "2021-02-29", "2020-13-01", "5/3/2020", "",
                       "—", None])
    result = sn.normalise_date(cells)
    march5 = dt.date(2020, 3, 5)
    assert values(result) == [march5] * 9 + [None] * 6
    errs = errors(result)
    assert errs[:9] == [None] * 9
    assert errs[9] == "'2021-02-29' is not a valid calendar date (year 2021, month 2, day 29)"
    assert errs[10] == "'2020-13-01' is not a valid calendar date (year 2020, month 13, day 1)"
    assert errs[11] == ("'5/3/2020' is not a date (expected 2020-03-05, 2020/3/5, 2020年3月5日, 20200305 "
                        "or an Excel date)")
    assert errs[12:] == [None] * 3
    assert str(result[0].dtype) == "date32[day][pyarrow]"


def test_date_from_xlsx_objects() -> None:
    cells = pd.Series([dt.datetime(2020, 3, 5), dt.date(2020, 3, 6), pd.Timestamp("2020-03-07"), 43897.0, 43898,
                       None, float("nan")], dtype=object)
    assert values(sn.normalise_date(cells)) == [dt.date(2020, 3, d) for d in (5, 6, 7, 7, 8)] + [None, None]


def test_excel_serial_1900_system() -> None:
    assert nz.excel_serial_to_date(1) == dt.date(1900, 1, 1)
    assert nz.excel_serial_to_date(59) == dt.date(1900, 2, 28)
    assert nz.excel_serial_to_date(61) == dt.date(1900, 3, 1)
    assert nz.excel_serial_to_date(43895) == dt.date(2020, 3, 5)
    with pytest.raises(ValueError):
        nz.excel_serial_to_date(60)


def _renderings(d: dt.date) -> list[object]:
    return [
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}",
        f"{d.year}/{d.month}/{d.day}",
        f"{d.year}年{d.month}月{d.day}日",
        f"{d.year:04d}{d.month:02d}{d.day:02d}",
        str((d - dt.date(1899, 12, 30)).days),  # Excel serial as text
        float((d - dt.date(1899, 12, 30)).days),  # Excel serial as a number
        dt.datetime(d.year, d.month, d.day),
        full_width(f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),
    ]


@settings(max_examples=200)
@given(st.dates(min_value=dt.date(1927, 5, 18), max_value=dt.date(2173, 10, 14)))
def test_every_date_form_round_trips(d: dt.date) -> None:
    cells = pd.Series(_renderings(d), dtype=object)
    result = sn.normalise_date(cells)
    assert errors(result) == [None] * len(cells)
    assert values(result) == [d] * len(cells)


@given(st.integers(1900, 2099), st.integers(1, 12), st.integers(29, 31))
def test_impossible_dates_are_errors(year: int, month: int, day: int) -> None:
    try:
        dt.date(year, month, day)
    except ValueError:
        result = sn.normalise_date(pd.Series([f"{year}-{month:02d}-{day:02d}", f"{year}年{month}月{day}日"]))
        assert values(result) == [None, None]
        assert all(e is not None and "is not a valid calendar date" in e for e in errors(result))


def test_period_examples() -> None:
    cells = pd.Series(["2020-03", "2020-3", "2020/03", "2020.3", "2020年3月", "2020年03月份", "202003",
                       "2020-03-01", dt.datetime(2020, 3, 1), "43891", "2020-03-15", "2020-13", "March", ""],
                      dtype=object)
    result = sn.normalise_period(cells)
    assert values(result) == ["2020-03"] * 10 + [None] * 4
    errs = errors(result)
    assert errs[:10] == [None] * 10
    assert errs[10].startswith("'2020-03-15' is a day, not a month")
    assert errs[11].startswith("'2020-13' has month 13, not 1-12")
    assert errs[12].startswith("'March' is not a month")
    assert errs[13] is None


def test_year_examples() -> None:
    result = sn.normalise_year(pd.Series(["2021", "2021年", "2021年度", 2021.0, " ２０２１ ", "21", "1850", ""],
                                         dtype=object))
    assert values(result) == [2021] * 5 + [None] * 3
    assert result[0].dtype == "Int64"
    errs = errors(result)
    assert errs[5].startswith("'21' is not a year") and errs[6].startswith("'1850' is not a plausible year")


# ---------------------------------------------------------------------------------------------------
# Codes, enumerations, booleans, text


def test_code_examples() -> None:
    result = sn.normalise_code(pd.Series(["330402", 330402.0, " 330471 ", "３３０４０２", "33040", "3304021", "", "—"],
                                         dtype=object))
    assert values(result) == ["330402", "330402", "330471", "330402", None, None, None, None]
    assert errors(result)[4] == "'33040' is not a 6-digit code (expected, for example, 330402)"
    assert errors(result)[5] is not None and errors(result)[6] is None


def test_enum_examples() -> None:
    cells = pd.Series(["居住建筑", "住宅", " Residential ", "公 建", "场馆", "ＩＮＤＵＳＴＲＩＡＬ", "其它", "商业",
                       "", "—"])
    result = sn.normalise_enum(cells, "building_use")
    assert values(result) == ["residential", "residential", "residential", "public", "venue", "industrial",
                              "other", "商业", None, None]
    assert errors(result) == [None] * 10  # unknown values are kept, and named by the submission checks
    assert values(sn.normalise_enum(pd.Series(["无", "一星级", "3星", "基本级", "cast-in-place"]), "green_star")) == [
        "none", "1", "3", "basic", "cast-in-place"]
    assert values(sn.normalise_enum(pd.Series(["现浇", "Cast-In-Place", "PC", "装配式混凝土结构"]),
                                    "structure_system")) == ["cast_in_place", "cast_in_place", "pc_concrete",
                                                             "pc_concrete"]
    assert values(sn.normalise_enum(pd.Series(["双T板", "双t板"]), "base_type")) == ["double_t_slab"] * 2
    assert values(sn.normalise_enum(pd.Series(["m³/年", "吨/年", "M2/YR"]), "capacity_unit")) == [
        "m3/yr", "t/yr", "m2/yr"]


def test_bool_examples() -> None:
    cells = pd.Series(["是", "否", "Y", "n", "YES", "No", "true", "FALSE", "1", "0", 1.0, True, "maybe", "", "—"],
                      dtype=object)
    result = sn.normalise_bool(cells)
    assert values(result) == [True, False, True, False, True, False, True, False, True, False, True, True,
                              None, None, None]
    assert errors(result)[12] == ("'maybe' is not a yes/no value (expected 是/否, Y/N, yes/no, true/false or "
                                  "1/0)")
    assert result[0].dtype == "boolean"


def test_text_examples() -> None:
    cells = pd.Series([" a ", "—", "=1+2", "+86 123", "-x", "@home", "无", None, "None", "NULL", "\u3000名称\u3000"])
    result = sn.normalise_text(cells)
    assert values(result) == ["a", None, "=1+2", "+86 123", "-x", "@home", None, None, None, None, "名称"]
    assert errors(result) == [None] * 11
    kept = sn.normalise_text(pd.Series(["无", ""]), missing_words=False)
    assert values(kept) == ["无", None]


def test_field_dispatch_and_dtypes() -> None:
    dtypes = {name: str(d) for name, d in sn.value_dtypes("buildings").items()}
    assert dtypes["unit_code"] == "str" and dtypes["period"] == "str"
    assert dtypes["start_date"] == "date32[day][pyarrow]"
    assert dtypes["total_floor_area_m2"] == "Float64" and dtypes["assembly_rate_pct"] == "Float64"
    assert dtypes["full_decoration"] == "boolean"
    assert str(sn.value_dtypes("targets")["year"]) == "Int64"
    area = next(f for f in template.fields("buildings") if f.name == "total_floor_area_m2")
    assert values(sn.normalise_field(area, pd.Series(["1.5"]), 10000)) == [15000.0]


# ---------------------------------------------------------------------------------------------------
# Digits other than 0-9, format characters, time of day, over-long cells

# Decimal digit sets that NFKC leaves alone (it makes full-width and mathematical digits ASCII, which are
# then accepted everywhere): Arabic-Indic, extended Arabic-Indic, Devanagari, Bengali, Thai.
FOREIGN_ZEROS = [0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50]


def _in_digits(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


@settings(max_examples=200)
@given(st.dates(min_value=dt.date(1927, 5, 18), max_value=dt.date(2173, 10, 14)),
       st.integers(min_value=1, max_value=10**9), st.sampled_from(FOREIGN_ZEROS), st.booleans())
def test_digits_are_treated_alike_in_numbers_dates_and_periods(d: dt.date, n: int, zero: int, wide: bool) -> None:
    """A digit form is accepted by every numeric-looking field or by none: ASCII and full-width digits
    everywhere; other decimal digits (Arabic-Indic, Devanagari, ...) nowhere, with a reason that says so."""
    iso, month, number = f"{d.year:04d}-{d.month:02d}-{d.day:02d}", f"{d.year:04d}-{d.month:02d}", str(n)
    if wide:
        iso, month, number = full_width(iso), full_width(month), full_width(number)
    accepted = (sn.normalise_date(pd.Series([iso])), sn.normalise_period(pd.Series([month])),
                sn.normalise_number(pd.Series([number])))
    assert [errors(r) for r in accepted] == [[None]] * 3
    assert [values(r) for r in accepted] == [[d], [month if not wide else f"{d.year:04d}-{d.month:02d}"], [n]]
    foreign = (sn.normalise_date(pd.Series([_in_digits(iso, zero)])),
               sn.normalise_period(pd.Series([_in_digits(month, zero)])),
               sn.normalise_number(pd.Series([_in_digits(number, zero)])))
    for r in foreign:
        assert values(r) == [None]
        assert "digits other than 0-9" in errors(r)[0]


def test_arabic_indic_digits_are_refused_in_years_and_codes() -> None:
    assert values(sn.normalise_year(pd.Series(["٢٠٢١"]))) == [None]
    assert values(sn.normalise_code(pd.Series(["٣٣٠٤٠٢"]))) == [None]


def test_a_time_of_day_must_be_valid() -> None:
    cells = pd.Series(["2020-03-05 23:59", "2020-03-05T00:00:00", "2020-03-05 99:00", "2020-03-05 12:60",
                       "2020-03-05 10:00:61"])
    result = sn.normalise_date(cells)
    assert values(result) == [dt.date(2020, 3, 5)] * 2 + [None] * 3
    assert errors(result)[2] == ("'2020-03-05 99:00' is not a valid time of day (99:00): expected hours 0-23 "
                                 "and minutes 0-59, or the date alone")
    assert all(e and "not a valid time of day" in e for e in errors(result)[3:])


@pytest.mark.parametrize("mark", ["\ufeff", "\u200b", "\u200c", "\u200d", "\u2060"])
def test_format_characters_inside_cells_are_removed_for_every_type(mark: str) -> None:
    by_name = {f.name: f for f in template.fields("buildings")}
    cases = {"full_decoration": (f"是{mark}", True), "start_date": (f"2020-03{mark}-05", dt.date(2020, 3, 5)),
             "period": (f"{mark}2020-03", "2020-03"), "total_floor_area_m2": (f"12{mark}000", 12000.0),
             "unit_code": (f"3304{mark}02", "330402"), "building_use": (f"居住{mark}建筑", "residential"),
             "project_name": (f"南湖{mark}花园", "南湖花园"), "score_q1": (f"{mark}30", 30.0)}
    for name, (cell, want) in cases.items():
        result = sn.normalise_field(by_name[name], pd.Series([cell, cell]))
        assert errors(result) == [None, None], (name, errors(result))
        assert values(result) == [want, want], name


def test_an_over_long_cell_is_an_error_naming_its_length() -> None:
    by_name = {f.name: f for f in template.fields("buildings")}
    for name in ("project_name", "building_use", "total_floor_area_m2", "start_date"):
        result = sn.normalise_field(by_name[name], pd.Series(["长" * 150_000, "ok" if name == "project_name" else ""]))
        err = errors(result)[0]
        assert err is not None and err.endswith("is 150,000 characters long: a cell holds at most 4,000"), name
        assert len(err) < 200 and errors(result)[1] is None
    assert errors(sn.normalise_field(by_name["remarks"], pd.Series(["x" * 4000]))) == [None]
