"""The reader tests' sample workbook: title lines, header, five buildings, totals and footnote rows, and the
values they normalise to."""

from __future__ import annotations

import csv
import datetime as dt
import io

# Rows as a county would type them: title lines, the header, five buildings, a totals row that agrees with
# the data rows (2.2845 万m² = 1.2345 + 0.5 + 0.25 + 0.1 + 0.2; 15,000.5 m² = 8000.5 + 3000 + 2500 + 0 + 1500),
# and a footnote.
D = dt.date

HEADER = ["序号", "填报单位代码", "统计期", "项目代码", "项目名称", "单体编号", "施工许可证号", "开工日期", "建筑类别",
          "结构体系", "总建筑面积（万平方米）", "装配式建筑面积(m2)", "主体结构得分", "围护墙和内隔墙得分",
          "装修和设备管线得分", "缺少评价项分值", "装配率", "评价标准", "全装修", "绿色建筑星级", "建设单位", "备注"]


ROWS = [
    ["嘉兴市南湖区2020年3月新开工装配式建筑统计表"],
    ["填报单位：南湖区住房和城乡建设局"],
    HEADER,
    ["1", "330402", "2020-03", "P-001", "南湖花园, 一期", "1#", "330402202003010101", "2020-03-05", "住宅",
     "装配式混凝土", "1.2345", "8,000.5", "30", "15", "20", "0", "65%", "GB/T 51129-2017", "是", "二星",
     "嘉兴建设有限公司", "—"],
    ["2", "330402", "2020年3月", "P-001", "南湖花园, 一期", "2#", "", "2020/3/6", "居住建筑", "PC", "０.５",
     "３０００", "35", "12", "18", "", "72.5%", "", "否", "无", "", "无"],
    ["3", "330402", "202003", "P-002", '说明"引号"', "3#", "—", "2020年3月7日", "公共建筑", "钢结构", "0.25",
     "2500", "20", "10", "10", "5", "42.1%", "", "Y", "", "/", "多行\n备注"],
    ["4", "330402", "2020-03", "P-003", "东区厂房", "A栋", "", "20200308", "工业", "现浇", "0.1", "0", "", "", "",
     "", "", "", "false", "", "", ""],
    ["5", "330402", "2020-03", "P-003", "东区厂房", "B栋", "", "43899", "工业建筑", "钢结构", "0.2", "1,500", "25",
     "10", "8", "0", "43%", "", "TRUE", "一星", "", ""],
    ["合计", "", "", "", "", "", "", "", "", "", "2.2845", "15,000.5", "", "", "", "", "", "", "", "", "", ""],
    ["注：1. 面积单位见表头。"],
]


EXPECTED = {
    "row_number": [4, 5, 6, 7, 8],
    "unit_code": ["330402"] * 5,
    "period": ["2020-03"] * 5,
    "project_code": ["P-001", "P-001", "P-002", "P-003", "P-003"],
    "project_name": ["南湖花园, 一期", "南湖花园, 一期", '说明"引号"', "东区厂房", "东区厂房"],
    "building_no": ["1#", "2#", "3#", "A栋", "B栋"],
    "permit_no": ["330402202003010101", None, None, None, None],
    "start_date": [D(2020, 3, 5), D(2020, 3, 6), D(2020, 3, 7), D(2020, 3, 8), D(2020, 3, 9)],
    "building_use": ["residential", "residential", "public", "industrial", "industrial"],
    "structure_system": ["pc_concrete", "pc_concrete", "steel", "cast_in_place", "steel"],
    "total_floor_area_m2": [12345.0, 5000.0, 2500.0, 1000.0, 2000.0],
    "prefab_floor_area_m2": [8000.5, 3000.0, 2500.0, 0.0, 1500.0],
    "score_q1": [30.0, 35.0, 20.0, None, 25.0],
    "score_q2": [15.0, 12.0, 10.0, None, 10.0],
    "score_q3": [20.0, 18.0, 10.0, None, 8.0],
    "score_q4": [0.0, None, 5.0, None, 0.0],
    "assembly_rate_pct": [65.0, 72.5, 42.1, None, 43.0],
    "evaluation_standard": ["GB/T 51129-2017", None, None, None, None],
    "full_decoration": [True, False, True, False, True],
    "green_star": ["2", "none", None, None, "1"],
    "developer": ["嘉兴建设有限公司", None, None, None, None],
    "remarks": [None, None, "多行\n备注", None, None],
}


def csv_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return out.getvalue()



def english(errors: dict[int, list[str]]) -> dict[int, list[str]]:
    """A reader's row errors, the English part of each (each is stored Chinese first: foundation.bilingual)."""
    from foundation.bilingual import part

    return {row: [part(e, "en") for e in reasons] for row, reasons in errors.items()}
