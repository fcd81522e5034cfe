"""Reading submission files: every format of the template, with exact values and row numbers.

Expected values are worked out by hand from the cells written here, never by calling the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from foundation import bilingual
from ingestion.errors import RejectedFile
from ingestion.naming import FileName, parse_file_name
from ingestion.read import IgnoredRow, read_submission
from tests.helpers.readers import EXPECTED, HEADER, ROWS, D, csv_text, english


def write(tmp_path: Path, name: str, data: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def column(frame: pd.DataFrame, name: str) -> list:
    return [None if pd.isna(v) else v for v in frame[name].tolist()]


def assert_main_file(result, encoding: str | None) -> None:
    assert result.encoding == encoding
    assert result.header_row == 3
    for name, expected in EXPECTED.items():
        assert column(result.frame, name) == expected, name
    assert english(result.errors) == {}
    assert result.warnings == []
    assert result.ignored == [IgnoredRow(9, "totals", "合计 | 2.2845 | 15,000.5"),
                              IgnoredRow(10, "note", "注：1. 面积单位见表头。")]
    assert result.rows_received == 7
    assert result.unit_factors == {"total_floor_area_m2": 10000.0, "prefab_floor_area_m2": 1.0}
    raw = [json.loads(r) for r in result.frame["raw"]]
    assert raw[0]["总建筑面积（万平方米）"] == "1.2345"
    assert raw[0]["项目名称"] == "南湖花园, 一期"
    assert raw[0]["序号"] == "1"
    assert raw[1]["总建筑面积（万平方米）"] == "０.５"
    assert raw[1]["施工许可证号"] == ""
    assert raw[2]["项目名称"] == '说明"引号"'
    assert raw[2]["备注"] == "多行\n备注"
    assert list(raw[0]) == HEADER


# ---------------------------------------------------------------------------------------------------
# CSV encodings and delimiters


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("utf-16", "utf-16")],
)
def test_csv_in_every_encoding(tmp_path: Path, encoding: str, reported: str) -> None:
    path = write(tmp_path, "330402_2020-03.csv", csv_text(ROWS), encoding)
    assert_main_file(read_submission(path, "buildings"), reported)


def test_csv_tab_separated_with_crlf(tmp_path: Path) -> None:
    path = write(tmp_path, "330402_2020-03.csv", csv_text(ROWS, delimiter="\t", newline="\r\n"))
    assert_main_file(read_submission(path, "buildings"), "utf-8")


def padded(rows: list[list[str]]) -> list[list[str]]:
    """Every row as wide as the header, as spreadsheet programs export CSV."""
    return [row + [""] * (len(HEADER) - len(row)) for row in rows]


def no_exact_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("the csv-module path was used")

    monkeypatch.setattr("ingestion.read.csv_file.exact_grid", fail)


@pytest.mark.parametrize(("encoding", "newline"), [("utf-8", "\n"), ("gbk", "\r\n"), ("utf-8-sig", "\r\n")])
def test_spreadsheet_export_takes_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str,
                                                newline: str) -> None:
    no_exact_path(monkeypatch)
    path = write(tmp_path, "330402_2020-03.csv", csv_text(padded(ROWS), newline=newline), encoding)
    assert_main_file(read_submission(path, "buildings"), {"gbk": "gb18030"}.get(encoding, encoding))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_blank_lines_on_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newline: str) -> None:
    no_exact_path(monkeypatch)
    def line(row: list[str]) -> str:
        return csv_text(padded([row]), newline=newline)

    row8 = [*ROWS[7]]
    row8[11] = "1500"
    row9 = [*ROWS[6]]
    row9[11] = "1600"  # not an exact copy of row 5 (those count once: test_exact_copies_count_once)
    # rows 2, 4, 7 and 8 are empty lines, row 10 a line of empty cells, and the file ends with empty lines
    text = "".join([line(ROWS[0]), newline, line(ROWS[2]), newline, line(ROWS[6]), line(row8), newline,
                    newline, line(row9), line([]), line(ROWS[9]), newline, newline])
    assert '"' not in text
    result = read_submission(write(tmp_path, "b.csv", text), "buildings")
    assert result.header_row == 3
    assert column(result.frame, "row_number") == [5, 6, 9]
    assert column(result.frame, "building_no") == ["A栋", "B栋", "A栋"]
    assert [(r.row_number, r.what) for r in result.ignored] == [(11, "note")]
    assert result.rows_received == 4


def test_gbk_file_is_not_read_as_mojibake(tmp_path: Path) -> None:
    text = csv_text(ROWS)
    gbk = text.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        gbk.decode("utf-8")  # the premise: these bytes are not UTF-8
    result = read_submission(write(tmp_path, "g.csv", gbk), "buildings")
    assert result.encoding == "gb18030"
    assert column(result.frame, "project_name")[0] == "南湖花园, 一期"
    assert column(result.frame, "building_use")[0] == "residential"


def test_utf8_is_tried_before_gb18030(tmp_path: Path) -> None:
    data = csv_text(ROWS).encode("utf-8")
    mojibake = data.decode("gb18030", errors="replace")  # UTF-8 bytes also pass as GB18030, as mojibake
    assert "南湖花园" not in mojibake
    result = read_submission(write(tmp_path, "u.csv", data), "buildings")
    assert result.encoding == "utf-8"
    assert column(result.frame, "project_name")[0] == "南湖花园, 一期"


def test_undecodable_file_is_rejected(tmp_path: Path) -> None:
    data = csv_text(ROWS[2:4]).encode("utf-8") + b"\xff\xfe\xff\x80\n"
    with pytest.raises(RejectedFile) as err:
        read_submission(write(tmp_path, "bad.csv", data), "buildings")
    zh, en = err.value.reason.split(bilingual.SEPARATOR)
    byte, at = re.fullmatch(r"cannot decode the file as UTF-8, UTF-16 or GB18030: byte (0x[0-9a-f]{2}) at position "
                            r"(\d+) is invalid in each; save it from Excel or WPS as CSV UTF-8 .*", en).groups()
    assert zh.startswith(f"文件无法按 UTF-8、UTF-16 或 GB18030 解码：偏移 {at} 字节处的 {byte} 在这三种编码中都无效；")


def test_file_over_the_size_limit_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "big.csv", csv_text(ROWS))
    size = path.stat().st_size
    with pytest.raises(RejectedFile) as err:
        read_submission(path, "buildings", max_bytes=size - 1)
    zh, en = err.value.reason.split(bilingual.SEPARATOR)
    assert en.startswith(f"file is {size} bytes, over the limit of {size - 1}: it was not read")
    assert zh.startswith(f"文件大小为 {size:,} 字节，超过上限 {size - 1:,} 字节，未读取")
    assert len(read_submission(path, "buildings", max_bytes=size).frame) == 5


def test_units_and_english_headers(tmp_path: Path) -> None:
    rows = [
        [" Unit Code ", "PERIOD", "project_code", "Project Name", "Building No", "Start Date", "building use",
         "Structure_System", "Total Floor Area (万m²)", "prefab_floor_area_m2 (m²)", "FULL DECORATION",
         "ＡＳＳＥＭＢＬＹ ＲＡＴＥ ＰＣＴ", "联系人"],
        ["330402", "2020-03", "P1", "甲", "1", "2020-03-05", "public", "steel", "0.0001", "1", "yes", "50%", "张三"],
        ["330402", "2020-03", "P1", "甲", "2", "2020-03-05", "venue", "timber", "１２", "120,000.25", "no", "", ""],
    ]
    result = read_submission(write(tmp_path, "e.csv", csv_text(rows)), "buildings")
    assert column(result.frame, "total_floor_area_m2") == [1.0, 120000.0]
    assert column(result.frame, "prefab_floor_area_m2") == [1.0, 120000.25]
    assert column(result.frame, "full_decoration") == [True, False]
    assert column(result.frame, "assembly_rate_pct") == [50.0, None]
    assert column(result.frame, "building_use") == ["public", "venue"]
    assert column(result.frame, "row_number") == [2, 3]
    assert result.header_row == 1
    assert result.warnings == [bilingual.join("第 13 列“联系人”不在装配式建筑模板中，已忽略",
                                              "column 13 '联系人' is not in the buildings template and was ignored")]
    assert result.headers["total_floor_area_m2"] == "Total Floor Area (万m²)"
    # optional columns that are absent come back all-missing, with their dtype
    assert column(result.frame, "green_star") == [None, None]
    assert str(result.frame["score_q1"].dtype) == "Float64"


# ---------------------------------------------------------------------------------------------------
# Rows: totals, notes, blanks, errors


def test_totals_row_that_disagrees_is_a_warning(tmp_path: Path) -> None:
    empty9 = [""] * 9
    rows = [ROWS[2],
            ROWS[3],  # 1.2345 万m², 8,000.5 m²
            ["小计", *empty9, "1.2345", "8000.5"],  # agrees with the row above
            ROWS[4],  # 0.5 万m², 3000 m²
            ["小计", *empty9, "0.5", "3001"],  # the row since the previous subtotal has 3000 m²
            ["合计", *empty9, "1.80", "11,000.5"]]  # all data rows: 1.7345 万m², 11,000.5 m²
    result = read_submission(write(tmp_path, "t.csv", csv_text(rows)), "buildings")
    assert column(result.frame, "row_number") == [2, 4]
    assert [(r.row_number, r.what) for r in result.ignored] == [(3, "totals"), (5, "totals"), (6, "totals")]
    assert result.warnings == [
        bilingual.join("合计行（第 5 行，“小计”）：“装配式建筑面积(m2)”列填写 3001 m²，但上一合计行之后的 1 个数据行"
                       "之和为 3000 m²",
                       "totals row 5 ('小计'): column '装配式建筑面积(m2)' states 3001 m² but the 1 data row since "
                       "the previous totals row sum to 3000 m²"),
        bilingual.join("合计行（第 6 行，“合计”）：“总建筑面积（万平方米）”列填写 1.80 万m²，但全部 2 个数据行之和为 "
                       "1.7345 万m²",
                       "totals row 6 ('合计'): column '总建筑面积（万平方米）' states 1.80 万m² but the 2 data rows "
                       "sum to 1.7345 万m²"),
    ]
    assert result.rows_received == 5


def test_totals_tolerance_follows_the_decimals_written(tmp_path: Path) -> None:
    # 1.2345 + 0.5 = 1.7345 万m²; the tolerance is half a unit of the last decimal written, at least 0.005
    base = [ROWS[2], ROWS[3], ROWS[4]]
    for stated, warns in (("1.7345", False), ("1.73", False), ("1.7", False), ("2", False), ("1.74", True),
                          ("1.8", True), ("3", True), ("1.7396", True)):
        rows = [*base, ["合计", "", "", "", "", "", "", "", "", "", stated, ""]]
        result = read_submission(write(tmp_path, "t.csv", csv_text(rows)), "buildings")
        assert bool(result.warnings) == warns, stated


def test_blank_lines_are_counted_in_row_numbers_but_are_not_rows(tmp_path: Path) -> None:
    body = csv_text([ROWS[2], ROWS[3]]) + "\n" + ",,,,,,,,,,,,,,,,,,,,,\n" + csv_text([ROWS[6]]) + "\n\n"
    result = read_submission(write(tmp_path, "b.csv", body), "buildings")
    assert column(result.frame, "row_number") == [2, 5]
    assert result.rows_received == 2
    # the same with quoted values (the exact path numbers records, not physical lines)
    body = csv_text([ROWS[2], ROWS[5]]) + "\n" + csv_text([ROWS[6]])
    result = read_submission(write(tmp_path, "q.csv", body), "buildings")
    assert column(result.frame, "row_number") == [2, 4]
    assert column(result.frame, "remarks") == ["多行\n备注", None]


def test_row_only_numbered_is_blank(tmp_path: Path) -> None:
    rows = [ROWS[2], ROWS[3], ["2"] + [""] * 21, ["3"]]
    result = read_submission(write(tmp_path, "n.csv", csv_text(rows)), "buildings")
    assert column(result.frame, "row_number") == [2]
    assert result.rows_received == 1


def test_row_wider_than_the_header_is_a_row_error(tmp_path: Path) -> None:
    rows = [ROWS[2], ROWS[3] + ["x", "", "y"], ROWS[6] + ["", ""], ROWS[6][:12]]
    result = read_submission(write(tmp_path, "w.csv", csv_text(rows)), "buildings")
    assert column(result.frame, "row_number") == [2, 3, 4]
    assert english(result.errors) == {2: ["row has more cells than the header's 22 columns: extra values 'x', 'y'"]}
    assert column(result.frame, "project_code") == ["P-001", "P-003", "P-003"]
    raw = json.loads(result.frame["raw"][0])
    assert raw["extra cell 1"] == "x" and raw["extra cell 2"] == "y"
    assert json.loads(result.frame["raw"][2])["备注"] == ""  # the short row is padded


def test_cells_that_cannot_be_parsed_are_row_errors(tmp_path: Path) -> None:
    bad = list(ROWS[3])
    bad[7] = "2021-02-29"
    bad[10] = "1,23"
    bad[18] = "maybe"
    bad[1] = "33040"
    result = read_submission(write(tmp_path, "e.csv", csv_text([ROWS[0], ROWS[2], bad, ROWS[4]])), "buildings")
    assert column(result.frame, "row_number") == [3, 4]
    assert english(result.errors) == {3: [
        "column '填报单位代码' (unit_code): '33040' is not a 6-digit code (expected, for example, 330402)",
        "column '开工日期' (start_date): '2021-02-29' is not a valid calendar date (year 2021, month 2, day 29)",
        "column '总建筑面积（万平方米）' (total_floor_area_m2): '1,23' is not a number: thousands separators must "
        "group three digits, as in 1,234.5",
        "column '全装修' (full_decoration): 'maybe' is not a yes/no value (expected 是/否, Y/N, yes/no, "
        "true/false or 1/0)",
    ]}
    assert column(result.frame, "start_date") == [None, D(2020, 3, 6)]


def test_zero_report(tmp_path: Path) -> None:
    result = read_submission(write(tmp_path, "z.csv", csv_text(ROWS[:3]) + "\n"), "buildings")
    assert result.frame.empty
    assert list(result.frame.columns)[:3] == ["row_number", "raw", "unit_code"]
    assert len(result.frame.columns) == 2 + 21
    assert result.rows_received == 0
    assert english(result.errors) == {} and result.ignored == [] and result.warnings == []
    assert result.header_row == 3


# ---------------------------------------------------------------------------------------------------
# Rejected files


def test_missing_required_column_is_rejected(tmp_path: Path) -> None:
    header = [h for h in HEADER if h not in ("开工日期", "全装修")]
    with pytest.raises(RejectedFile) as err:
        read_submission(write(tmp_path, "m.csv", csv_text([ROWS[0], header])), "buildings")
    assert err.value.reason == ("第 2 行表头缺少装配式建筑模板的必填列：开工日期/start_date、全装修/full_decoration ‖ "
                                "header row 2 has no column for 开工日期/start_date, 全装修/full_decoration "
                                "(required by the buildings template)")


def test_no_header_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(RejectedFile) as err:
        read_submission(write(tmp_path, "n.csv", "a,b,c\n1,2,3\n"), "buildings")
    assert err.value.reason.startswith("前 11 行中找不到表头行")
    assert bilingual.part(err.value.reason, "en").startswith(
        "no header row found in the first 11 lines: expected headers like 填报单位代码/unit_code, 统计期/period")
    eleven_titles = [["标题"]] * 11 + [HEADER]
    with pytest.raises(RejectedFile):
        read_submission(write(tmp_path, "late.csv", csv_text(eleven_titles)), "buildings")
    ten_titles = [["标题"]] * 10 + [HEADER, ROWS[3]]
    assert column(read_submission(write(tmp_path, "ok.csv", csv_text(ten_titles)), "buildings").frame,
                  "row_number") == [12]


def test_duplicate_and_unknown_unit_columns_are_rejected(tmp_path: Path) -> None:
    header = [*HEADER, "总建筑面积(m²)"]
    with pytest.raises(RejectedFile) as err:
        read_submission(write(tmp_path, "d.csv", csv_text([header])), "buildings")
    assert err.value.reason == bilingual.join(
        "第 11 列“总建筑面积（万平方米）”、第 23 列“总建筑面积(m²)”都对应字段 总建筑面积/total_floor_area_m2："
        "每个字段只能有一列，请删除多余的列后重新报送",
        "columns 11 '总建筑面积（万平方米）' and 23 '总建筑面积(m²)' both match 总建筑面积/total_floor_area_m2: "
        "keep one column per field")
    header = [h.replace("（万平方米）", "（公顷）") for h in HEADER]
    with pytest.raises(RejectedFile) as err:
        read_submission(write(tmp_path, "u.csv", csv_text([header])), "buildings")
    zh, en = err.value.reason.split(bilingual.SEPARATOR)
    assert "的面积单位为“公顷”：应为 m²" in zh and "gives its unit as '公顷': expected m²" in en


def test_csv_that_is_a_workbook_and_xlsx_that_is_not(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.save(tmp_path / "book.xlsx")
    with pytest.raises(RejectedFile) as err:
        read_submission(write(tmp_path, "book.csv", (tmp_path / "book.xlsx").read_bytes()), "buildings")
    zh, en = err.value.reason.split(bilingual.SEPARATOR)
    assert "zip 压缩包" in zh and "改为 .xlsx" in zh and "zip archive" in en
    with pytest.raises(RejectedFile) as err:
        read_submission(write(tmp_path, "fake.xlsx", csv_text(ROWS)), "buildings")
    zh, en = err.value.reason.split(bilingual.SEPARATOR)
    assert zh.startswith("不是可读取的 XLSX 工作簿（") and en.startswith("not a readable XLSX workbook (")


# ---------------------------------------------------------------------------------------------------
# XLSX


def test_xlsx_with_title_row_named_sheet_and_native_cells(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "填表说明"
    wb.active["A1"] = "请在第二个工作表填报"
    ws = wb.create_sheet("装配式建筑")
    ws.append(["嘉兴市2020年3月装配式建筑统计表"])
    ws.append(["填报单位代码", "统计期", "项目代码", "项目名称", "单体编号", "开工日期", "建筑类别", "结构体系",
               "总建筑面积(m²)", "装配式建筑面积（万m²）", "装配率", "全装修", "备注"])
    ws.append([330402, dt.datetime(2020, 3, 1), "P1", "小区", 1, dt.datetime(2020, 3, 5), "住宅", "钢结构", 1234.5,
               0.1, 0.655, True, "=不是公式"])
    ws["K3"].number_format = "0.0%"
    ws["M3"].data_type = "s"  # text that looks like a formula (openpyxl would write a formula)
    ws.append(["330402", "2020-03", "P2", "小区", "2#", 43896, "公共建筑", "混合结构", "1,000", "０.０５", 70, "否",
               None])
    ws.append([330402.0, "2020年3月", "P3", "小区", "3#", "2020/3/7", "其它", "现浇", 500, 0, "", "N", "—"])
    ws.append([])
    ws.append(["合计", None, None, None, None, None, None, None, 2734.5, 0.16])
    ws.append(["注：本表由系统导出"])
    wb.save(tmp_path / "330402_2020-03.xlsx")

    result = read_submission(tmp_path / "330402_2020-03.xlsx", "buildings")
    assert result.sheet == "装配式建筑"
    assert result.encoding is None
    assert result.header_row == 2
    frame = result.frame
    assert column(frame, "row_number") == [3, 4, 5]
    assert column(frame, "unit_code") == ["330402"] * 3
    assert column(frame, "period") == ["2020-03"] * 3
    assert column(frame, "building_no") == ["1", "2#", "3#"]
    assert column(frame, "start_date") == [D(2020, 3, 5), D(2020, 3, 6), D(2020, 3, 7)]
    assert column(frame, "building_use") == ["residential", "public", "other"]
    assert column(frame, "structure_system") == ["steel", "hybrid", "cast_in_place"]
    assert column(frame, "total_floor_area_m2") == [1234.5, 1000.0, 500.0]
    assert column(frame, "prefab_floor_area_m2") == [1000.0, 500.0, 0.0]
    assert column(frame, "assembly_rate_pct") == [65.5, 70.0, None]  # 0.655 shown as 65.5%
    assert column(frame, "full_decoration") == [True, False, False]
    assert column(frame, "remarks") == ["=不是公式", None, None]
    assert english(result.errors) == {}
    assert result.ignored == [IgnoredRow(7, "totals", "合计 | 2734.5 | 0.16"),
                              IgnoredRow(8, "note", "注：本表由系统导出")]
    # 0.1 + 0.05 + 0 = 0.15 万m², stated 0.16
    assert [bilingual.part(w, "en") for w in result.warnings] == [
        "totals row 7 ('合计'): column '装配式建筑面积（万m²）' states 0.16 万m² but the 3 data rows sum to 0.15 万m²"]
    raw = json.loads(frame["raw"][0])
    assert raw["填报单位代码"] == "330402"
    assert raw["开工日期"] == "2020-03-05"
    assert raw["统计期"] == "2020-03-01"
    assert raw["装配率"] == "65.5%"
    assert raw["全装修"] == "TRUE"


def test_xlsx_first_sheet_when_none_is_named(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["单位代码", "年度", "新开工装配式建筑面积任务(万平方米)", "装配式建筑占比目标"])
    ws.append(["330400", "2021年", 120, "35%"])
    wb.create_sheet("other")
    wb.save(tmp_path / "330400_2021.xlsx")
    result = read_submission(tmp_path / "330400_2021.xlsx", "targets")
    assert result.sheet == "Sheet1"
    assert column(result.frame, "year") == [2021]
    assert column(result.frame, "target_prefab_floor_area_m2") == [1200000.0]
    assert column(result.frame, "target_prefab_share_pct") == [35.0]
    assert column(result.frame, "target_res_pub_floor_area_m2") == [None]


def test_xlsx_without_header_is_rejected(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["nothing", "here"])
    wb.save(tmp_path / "x.xlsx")
    with pytest.raises(RejectedFile) as err:
        read_submission(tmp_path / "x.xlsx", "targets")
    assert err.value.reason.startswith("前 11 行（工作表“Sheet”）中找不到表头行")
    assert bilingual.part(err.value.reason, "en").startswith(
        "no header row found in the first 11 lines of sheet 'Sheet'")


# ---------------------------------------------------------------------------------------------------
# Other kinds


def test_production_bases_csv(tmp_path: Path) -> None:
    rows = [["填报单位代码", "基地名称", "基地类型", "设计产能", "产能单位", "投产日期", "状态"],
            ["330402", "嘉兴构件厂", "混凝土预制构件", "150,000", "m³/年", "2019年6月1日", "在产"],
            ["330402", "南湖钢构", "钢结构构件", "", "", "—", "在建"],
            ["330402", "新厂", "预应力板", "2", "吨/年", "2021-02-29", "停产"],
            ["330402", "总计量站", "其他", "", "", "", "在产"],  # a name that contains 总计 is not a totals row
            ["全区合计：", "", "", "150,002", "", "", ""]]
    result = read_submission(write(tmp_path, "330402_2021.csv", csv_text(rows)), "production_bases")
    assert column(result.frame, "base_name") == ["嘉兴构件厂", "南湖钢构", "新厂", "总计量站"]
    assert result.ignored == [IgnoredRow(6, "totals", "全区合计： | 150,002")]
    assert column(result.frame, "base_type") == ["pc_concrete", "steel_structure", "预应力板", "other"]
    assert column(result.frame, "design_capacity") == [150000.0, None, 2.0, None]
    assert column(result.frame, "capacity_unit") == ["m3/yr", None, "t/yr", None]
    assert column(result.frame, "commissioned_on") == [D(2019, 6, 1), None, None, None]
    assert column(result.frame, "status") == ["operating", "under_construction", "closed", "operating"]
    assert list(result.errors) == [4]


def test_targets_csv(tmp_path: Path) -> None:
    rows = [["2021年度装配式建筑目标任务"], [],
            ["单位代码", "年度", "新开工装配式建筑面积任务（万平方米）", "住宅和公共建筑装配式面积任务(m²)",
             "装配式建筑占比目标(%)"],
            ["330400", "2021", "150.5", "1,000,000", "35%"],
            ["330402", "2021年", "20", "", "30"]]
    result = read_submission(write(tmp_path, "330400_2021.csv", csv_text(rows)), "targets")
    assert result.header_row == 3
    assert column(result.frame, "row_number") == [4, 5]
    assert column(result.frame, "unit_code") == ["330400", "330402"]
    assert column(result.frame, "year") == [2021, 2021]
    assert column(result.frame, "target_prefab_floor_area_m2") == [1505000.0, 200000.0]
    assert column(result.frame, "target_res_pub_floor_area_m2") == [1000000.0, None]
    assert column(result.frame, "target_prefab_share_pct") == [35.0, 30.0]


# ---------------------------------------------------------------------------------------------------
# File names


def test_file_names() -> None:
    assert parse_file_name("buildings", "330402_2020-03.csv") == FileName("330402", "2020-03", None, "csv")
    assert parse_file_name("buildings", "landing/330402_2020-03_更正版.XLSX") == FileName(
        "330402", "2020-03", "更正版", "xlsx")
    assert parse_file_name("targets", "330400_2021_市下达.xlsx") == FileName("330400", "2021", "市下达", "xlsx")
    assert parse_file_name("production_bases", "３３０４０２_2021.csv").unit_code == "330402"
    assert parse_file_name("buildings", "３３０４０２＿２０２０-０３.csv").period == "2020-03"
    assert parse_file_name("buildings", "330402_2020-03_第٣版.csv").free_text == "第٣版"  # free text is free


@pytest.mark.parametrize(
    ("kind", "name", "reason"),
    [
        ("buildings", "330402-2020-3.csv", "file name '330402-2020-3.csv' does not follow "
                                           "<unit_code>_<YYYY-MM>[_<free text>].csv|xlsx"),
        ("buildings", "330402_2020-13.csv", "month 13 is not 01-12"),
        ("buildings", "330402_2020.csv", "carries a year without a month"),
        ("targets", "330402_2020-03.csv", "carries a month"),
        ("buildings", "33040_2020-03.csv", "does not follow"),
        ("buildings", "330402_2020-03.xls", "has extension '.xls'"),
        ("targets", "330402_2021", "has no extension"),
        ("buildings", "٣٣٠٤٢٤_٢٠٢٢-٠٧.csv", "digits that are not 0-9 ('٣٠٤٢٧'): use the digits 0-9"),
        ("targets", "३३०४०२_2021.csv", "digits that are not 0-9 ('३०४२')"),
        ("targets", "330402_٢٠٢١_市下达.csv", "digits that are not 0-9"),
    ],
)
def test_bad_file_names(kind: str, name: str, reason: str) -> None:
    with pytest.raises(RejectedFile) as err:
        parse_file_name(kind, name)
    assert reason in err.value.reason


def test_raw_json_escapes_every_cell(tmp_path: Path) -> None:
    row = [*ROWS[3]]
    row[4] = 'back\\slash "quoted"\ttab'
    row[21] = "ctrl\x01char"
    for rows in ([ROWS[2], row], padded([ROWS[2], row])):
        result = read_submission(write(tmp_path, "j.csv", csv_text(rows)), "buildings")
        raw = json.loads(result.frame["raw"][0])
        assert raw["项目名称"] == 'back\\slash "quoted"\ttab'
        assert raw["备注"] == "ctrl\x01char"
        assert column(result.frame, "project_name") == ['back\\slash "quoted"\ttab']


@pytest.mark.parametrize("rows", [ROWS, padded(ROWS)])
def test_raw_json_on_demand(tmp_path: Path, rows: list[list[str]]) -> None:
    path = write(tmp_path, "r.csv", csv_text([*rows[:4], [*rows[4], "extra"], *rows[5:]]))
    eager = read_submission(path, "buildings")
    lazy = read_submission(path, "buildings", raw=False)
    assert "raw" not in lazy.frame.columns
    assert list(eager.frame.columns[2:]) == list(lazy.frame.columns[1:])
    wanted = [8, 5, 6]
    assert lazy.raw_json(wanted) == eager.raw_json(wanted)
    assert eager.raw_json([5]) == {5: eager.frame["raw"][1]}
    assert json.loads(lazy.raw_json([5])[5])["extra cell 1"] == "extra"
    assert json.loads(lazy.raw_json([6])[6])["备注"] == "多行\n备注"
    with pytest.raises(KeyError):
        lazy.raw_json([9])  # the totals row is not a data row


# ---------------------------------------------------------------------------------------------------------
# Rows never dropped silently

B_HEADER = ["填报单位代码", "统计期", "项目代码", "项目名称", "单体编号", "开工日期", "建筑类别", "结构体系",
            "总建筑面积(m²)", "装配式建筑面积(m²)", "主体结构得分", "围护墙和内隔墙得分", "装修和设备管线得分",
            "全装修"]


def _b_row(project: str, no: str, area: str = "1000") -> list[str]:
    return ["330402", "2020-03", project, "南湖", no, "2020-03-05", "居住建筑", "装配式混凝土", area, "800", "30", "15",
            "20", "是"]


@pytest.mark.parametrize("exact_path", [False, True])
def test_a_row_with_its_key_is_data_whatever_its_first_cell_says(tmp_path: Path, exact_path: bool) -> None:
    rows = [["备注", *B_HEADER],
            ["注：续建", *_b_row("P1", "1#")],  # 备注 first: a data row
            ["说明：", *_b_row("P1", "2#")],
            ["注：面积", "", "", "", "", "", "", "", "", "1000", ""],  # an area value: data, not a note
            ["注：本表由系统导出"]]
    if exact_path:
        rows.append(["   "])  # a line of spaces takes the csv-module path
    result = read_submission(write(tmp_path, "a.csv", csv_text(rows)), "buildings")
    assert column(result.frame, "row_number") == [2, 3, 4]
    assert column(result.frame, "remarks") == ["注：续建", "说明：", "注：面积"]
    assert result.ignored == [IgnoredRow(5, "note", "注：本表由系统导出")]

    rows = [B_HEADER, _b_row("Total", "1#"), _b_row("P2", "1#"),
            ["330402", "2020-03", "小计", "", "", "", "", "", "2000"], ["合计", *[""] * 7, "2000", "1600"]]
    result = read_submission(write(tmp_path, "b.csv", csv_text(rows)), "buildings")
    assert column(result.frame, "project_code") == ["Total", "P2"]
    assert [(r.row_number, r.what) for r in result.ignored] == [(4, "totals"), (5, "totals")]
    assert result.warnings == []  # both totals agree with the two data rows


@pytest.mark.parametrize("exact_path", [False, True])
def test_exact_copies_count_once(tmp_path: Path, exact_path: bool) -> None:
    rows = [["序号", *B_HEADER], ["1", *_b_row("P1", "1#")], ["2", *_b_row("P1", "1#")],
            ["3", *_b_row("P1", "2#")], ["4", *_b_row("P1", "2#", area="1200")],  # a conflict: both stay
            ["5", *_b_row(" P1", "1# ")], ["6", *_b_row("P2", "1#")], ["合计", *[""] * 8, "6200", "4800"]]
    if exact_path:
        rows.insert(3, ["   "])
    result = read_submission(write(tmp_path, "a.csv", csv_text(rows)), "buildings")
    first, copies = (2, [3, 6]) if not exact_path else (2, [3, 7])
    assert column(result.frame, "building_no") == ["1#", "2#", "2#", "1#"]
    assert [(r.row_number, r.what) for r in result.ignored] == [(c, "copy") for c in copies] + [
        (8 + exact_path, "totals")]
    assert result.ignored[0].text == "2 | " + " | ".join(_b_row("P1", "1#"))
    assert result.warnings[0] == bilingual.join(
        f"第 {copies[0]}、{copies[1]} 行与第 {first} 行完全相同：该行只计一次，重复的行未载入",
        f"rows {copies[0]}, {copies[1]} are exact copies of row {first}: the row is counted once, the copies are "
        "not loaded")
    # the totals row counted the copies: it is compared with the rows that load
    assert len(result.warnings) == 3 and "sum to 4200 m²" in result.warnings[1]
    assert result.rows_received == result.rows + len(result.ignored) == 7


def test_no_copies_when_rows_differ_only_in_a_cell(tmp_path: Path) -> None:
    rows = [B_HEADER, _b_row("P1", "1#"), _b_row("P1", "1#", area="1001"), _b_row("P1", "2#")]
    result = read_submission(write(tmp_path, "a.csv", csv_text(rows)), "buildings")
    assert result.rows == 3 and result.ignored == [] and result.warnings == []


def test_a_cell_over_the_csv_field_limit_quarantines_its_row(tmp_path: Path) -> None:
    long_row = _b_row("P1", "2#")
    long_row[3] = "长" * 200_000
    rows = [B_HEADER, _b_row("P1", "1#"), long_row, ["   "], _b_row("P1", "3#")]
    result = read_submission(write(tmp_path, "a.csv", csv_text(rows)), "buildings")
    assert result.rows == 3
    assert english(result.errors)[3][0].startswith("column '项目名称' (project_name): '长")
    assert english(result.errors)[3][0].endswith("is 200,000 characters long: a cell holds at most 4,000")
    assert json.loads(result.raw_json([3])[3])["项目名称"] == "长" * 200_000  # kept whole


@pytest.mark.parametrize(("data", "encoding"), [
    ("x" * 10_000 + "\x00", "utf-8"), ("x" * 10_000 + "\x00", "gb18030"), ("项目\x00", "utf-16")])
def test_a_nul_anywhere_rejects_the_file(tmp_path: Path, data: str, encoding: str) -> None:
    text = csv_text([B_HEADER, _b_row("P1", "1#")]) + data + ",\n"
    with pytest.raises(RejectedFile, match="NUL bytes"):
        read_submission(write(tmp_path, "a.csv", text, encoding), "buildings")
