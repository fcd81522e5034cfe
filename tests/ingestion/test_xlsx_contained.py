"""Workbooks a reader must not trust: sheets spanning more than a submission can need (refused from their
declared range and from their cells), a reader that aborts, runs out of memory or runs too long (contained in
the worker process: that file is rejected, the next one reads), password-protected and old .xls files
(OLE2), and a hidden first sheet."""

from __future__ import annotations

import re
import shutil
import zipfile

import pytest

from foundation import bilingual
from ingestion.errors import RejectedFile
from ingestion.read import read_batch, read_submission
from ingestion.read.xlsx_worker import ContainedXlsxReader, XlsxLimits
from ingestion.xlsx_extent import MAX_CELLS, MAX_COLUMNS, check_extent
from ingestion.xlsx_guard import check_workbook
from tests.corpus import build
from tests.helpers import xlsx_jobs


def _write(tmp_path, data: bytes, name: str = "330402_2020-10.xlsx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("maker", "match"), [
    ("xlsx_cell_at_xfd1048576", "declares its range as A1:XFD1048576: 16,384 columns, more than the 200"),
    ("xlsx_cell_at_az1048576", r"A1:AZ1048576: 1,048,576 rows by 52 columns \(54,525,952 cells\)"),
    ("xlsx_cell_far_right_undeclared", "has cells from A1 to XFD2: 16,384 columns"),
])
def test_a_sheet_larger_than_a_submission_is_refused_before_it_is_laid_out(tmp_path, maker, match):
    path = _write(tmp_path, getattr(build, maker)(None, None))
    assert path.stat().st_size < 8_000
    with pytest.raises(RejectedFile) as err:
        check_workbook(path, 2 << 30)
    zh, en = err.value.reason.split(bilingual.SEPARATOR)
    assert zh.startswith("工作簿“330402_2020-10.xlsx”的工作表“装配式建筑”范围过大：")
    assert zh.endswith("另存后重新报送）")
    assert en.startswith("sheet too large: sheet '装配式建筑' of the workbook '330402_2020-10.xlsx' ")
    with pytest.raises(RejectedFile, match=match):
        read_submission(path, "buildings")


def test_the_bounds_leave_room_for_real_sheets(tmp_path):
    wide = build._buildings_workbook([build._building_row("330402", "2020-10", "B60-P1", "1#", "2020-10-08")])
    wide.active.cell(row=2, column=MAX_COLUMNS, value="x")  # the widest a sheet may be
    wide.active.cell(row=MAX_CELLS // MAX_COLUMNS, column=1, value="x")  # and as tall as the cells allow
    check_workbook(_write(tmp_path, build._workbook_bytes(wide)), 2 << 30)
    styled = build._rewrite_part(build._small_workbook(), "xl/worksheets/sheet1.xml", lambda xml: xml.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" s="0"/></row></sheetData>'))
    check_workbook(_write(tmp_path, styled, "styled.xlsx"), 2 << 30)  # a style-only cell is not laid out


def test_the_exact_scan_measures_sheets_written_otherwise(tmp_path):
    """Prefixed elements and cells without r: the fast bound does not apply, the exact scan decides."""
    def prefixed(xml: bytes) -> bytes:
        xml = xml.replace(b"<worksheet xmlns=", b"<x:worksheet xmlns:x=").replace(b"</worksheet>", b"</x:worksheet>")
        for tag in (b"sheetData", b"row", b"c", b"is", b"t", b"v", b"dimension", b"sheetPr", b"outlinePr",
                    b"pageSetUpPr", b"sheetViews", b"sheetView", b"selection", b"sheetFormatPr", b"pageMargins"):
            xml = xml.replace(b"<" + tag + b" ", b"<x:" + tag + b" ").replace(b"<" + tag + b">", b"<x:" + tag + b">")
            xml = xml.replace(b"</" + tag + b">", b"</x:" + tag + b">")
        return xml

    far = build._far_cell("XFD2", dimension="A1:N2")
    path = _write(tmp_path, build._rewrite_part(far, "xl/worksheets/sheet1.xml", prefixed))
    with zipfile.ZipFile(path) as zf, pytest.raises(RejectedFile, match="has cells from A1 to XFD2"):
        check_extent(zf, path.name)
    dtd = build._rewrite_part(build._small_workbook(), "xl/worksheets/sheet1.xml",
                              lambda xml: b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + xml)
    with pytest.raises(RejectedFile, match="declares a DTD"):
        check_workbook(_write(tmp_path, dtd, "dtd.xlsx"), 2 << 30)


def test_an_abort_of_the_reader_rejects_that_file_and_the_next_one_reads(tmp_path):
    far = _write(tmp_path, build.xlsx_cell_at_xfd1048576(None, None), "far.xlsx")
    ok = _write(tmp_path, build._small_workbook(), "ok.xlsx")
    with ContainedXlsxReader(XlsxLimits(), job=xlsx_jobs.unguarded) as reader:
        with pytest.raises(RejectedFile) as err:
            reader.read(far, "buildings")
        zh, en = err.value.reason.split(bilingual.SEPARATOR)
        assert zh.startswith("工作簿“far.xlsx”无法安全读取：读取进程意外终止（信号 SIGABRT；内存上限为 ")
        assert en.startswith("the workbook could not be read safely: the reader stopped (signal SIGABRT")
        assert reader.read(ok, "buildings").n == 1


def test_memory_and_time_are_bounded(tmp_path):
    ok = build._small_workbook()
    paths = {name: _write(tmp_path, ok, f"{name}.xlsx") for name in ("hog", "sleep", "fine")}
    with ContainedXlsxReader(XlsxLimits(memory_bytes=3 << 30, seconds=120), job=xlsx_jobs.by_name) as reader:
        with pytest.raises(RejectedFile, match="could not be read safely: reading it needs more than 3.0 GiB") as err:
            reader.read(paths["hog"], "buildings")
        assert err.value.reason.startswith("工作簿“hog.xlsx”无法安全读取：读取需要超过 3.0 GiB 内存，未载入")
        assert reader.read(paths["fine"], "buildings").n == 1
    with ContainedXlsxReader(XlsxLimits(seconds=3), job=xlsx_jobs.by_name) as reader:
        assert reader.read(paths["fine"], "buildings").n == 1  # the worker is up: the next read is timed alone
        with pytest.raises(RejectedFile, match="could not be read safely: reading it took longer than 3 s") as err:
            reader.read(paths["sleep"], "buildings")
        assert err.value.reason.startswith("工作簿“sleep.xlsx”无法安全读取：读取超过了 3 秒，未载入")
        assert reader.read(paths["fine"], "buildings").n == 1


def test_a_batch_rejects_the_unsafe_file_only(tmp_path):
    files = [_write(tmp_path, build._small_workbook(), "330421_2020-05.xlsx"),
             _write(tmp_path, build.xlsx_cell_at_xfd1048576(None, None), "330402_2020-10.xlsx"),
             _write(tmp_path, build.xlsx_password_protected(None, None), "330471_2020-10.xlsx")]
    shutil.copy(files[0], tmp_path / "330421_2020-06.xlsx")
    batch = read_batch([*files, tmp_path / "330421_2020-06.xlsx"], "buildings")
    assert [type(f).__name__ for f in batch.files] == ["FileRead", "RejectedFile", "RejectedFile", "FileRead"]
    assert len(batch.frame) == 2


@pytest.mark.parametrize(("maker", "zh", "en"), [
    ("xlsx_password_protected", "^工作簿“330402_2020-10.xlsx”已加密（受密码保护），无法读取：请去掉密码.*后重新报送$",
     "^password protected: .*remove the password"),
    ("xlsx_old_xls", "^文件“330402_2020-10.xlsx”是改名为 .xlsx 的旧版 Excel 97-2003 .xls 工作簿：请在 Excel 或 WPS "
                     "中打开，另存为 Excel 工作簿（.xlsx）后重新报送$",
     "^old .xls format: .*Excel 97-2003 .xls workbook renamed .xlsx"),
])
def test_ole2_files_named_xlsx(tmp_path, maker, zh, en):
    with pytest.raises(RejectedFile) as err:
        read_submission(_write(tmp_path, getattr(build, maker)(None, None)), "buildings")
    reason = err.value.reason
    assert re.search(zh, bilingual.part(reason, "zh")) and re.search(en, bilingual.part(reason, "en"))
    with pytest.raises(RejectedFile) as err:
        check_workbook(_write(tmp_path, build.ole2(["WordDocument"]), "doc.xlsx"), None)
    assert bilingual.part(err.value.reason, "zh").startswith("文件“doc.xlsx”是旧版 Office（OLE2）文档，不是 Excel")
    assert bilingual.part(err.value.reason, "en").startswith("not an .xlsx workbook: the file 'doc.xlsx'")


def test_the_first_visible_sheet_is_read_and_a_hidden_one_named(tmp_path):
    res = read_submission(_write(tmp_path, build.xlsx_hidden_first_sheet(None, None)), "buildings")
    assert res.sheet == "报表" and res.rows == 2
    assert [w for w in res.warnings if "hidden sheet" in w] == [bilingual.join(
        "隐藏的工作表“草稿”未读取，读取的是工作表“报表”（如果数据在隐藏的工作表上，请取消隐藏它、删除另一个工作表后重新报送）",
        "hidden sheet skipped: the workbook's hidden sheet '草稿' was not read; sheet '报表' was "
        "read instead (if the data is on the hidden sheet, unhide it, delete the other sheet and send the file again)")]
