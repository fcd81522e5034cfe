"""Reading many files of a kind in one batch: each file keeps its own units, row numbers, reasons and
ignored rows, and a file that cannot be read does not stop the others.

Expected values are worked out by hand from the cells written here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.errors import RejectedFile
from ingestion.read import read_batch, read_submission
from tests.helpers.readers import EXPECTED, ROWS, csv_text, english

M2_HEADER = ["填报单位代码", "统计期", "项目代码", "项目名称", "单体编号", "开工日期", "建筑类别", "结构体系",
             "总建筑面积(m2)", "装配式建筑面积(m2)", "全装修"]
M2_ROWS = [
    M2_HEADER,
    ["330411", "2020-03", "Q-1", "秀洲小区", "1#", "2020-03-02", "住宅", "钢结构", "1200", "600", "是"],
    ["330411", "2020-03", "Q-1", "秀洲小区", "2#", "2020-03-02", "住宅", "钢结构", "abc", "600", "否"],
]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_batch_keeps_each_file_apart(tmp_path: Path) -> None:
    main = _write(tmp_path, "main.csv", csv_text(ROWS))  # areas in 万m², a totals row and a footnote
    unreadable = _write(tmp_path, "bad.csv", "a,b,c\n1,2,3\n")
    m2 = _write(tmp_path, "m2.csv", csv_text(M2_ROWS))  # areas in m², one bad area, no remarks column

    batch = read_batch([main, unreadable, m2], "buildings")

    first, second, third = batch.files
    assert isinstance(second, RejectedFile) and "no header row" in second.reason
    assert (first.rows, third.rows) == (5, 2)
    assert len(batch.frame) == 7
    frame = batch.frame
    assert frame["row_number"].tolist() == [4, 5, 6, 7, 8, 2, 3]
    areas = frame["total_floor_area_m2"].astype("float64").tolist()
    assert areas[:5] == EXPECTED["total_floor_area_m2"]  # 万m² x 10000
    assert areas[5] == 1200.0 and pd.isna(areas[6])  # m² as written; the bad cell is missing
    assert frame["project_code"].tolist() == [*EXPECTED["project_code"], "Q-1", "Q-1"]
    assert frame["remarks"].iloc[5:].isna().all()

    assert first.errors == {}
    assert [(r.row_number, r.what) for r in first.ignored] == [(9, "totals"), (10, "note")]
    assert first.warnings == []  # the totals row agrees with the data rows
    assert english(third.errors) == {3: ["column '总建筑面积(m2)' (total_floor_area_m2): 'abc' is not a number "
                                "(expected digits such as 1234.5 or 1,234.5)"]}
    assert third.rows_received == 2


def test_batch_of_one_is_read_submission(tmp_path: Path) -> None:
    path = _write(tmp_path, "m2.csv", csv_text(M2_ROWS))
    single = read_submission(path, "buildings", raw=False)
    batch = read_batch([path], "buildings")
    pd.testing.assert_frame_equal(batch.frame, single.frame)
    assert batch.files[0].errors == single.errors
    # One result type: a file of a batch is read as read_submission reads it, only without its own frame.
    file = batch.files[0]
    assert type(file) is type(single) and file.frame is None
    assert (file.kind, file.rows, file.rows_received, file.ignored, file.warnings) == (
        single.kind, single.rows, single.rows_received, single.ignored, single.warnings)
    assert (file.encoding, file.sheet, file.header_row, file.headers, file.unit_factors) == (
        single.encoding, single.sheet, single.header_row, single.headers, single.unit_factors)
    assert file.raw_json([3]) == single.raw_json([3])
