"""Lands the ingestion corpus (tests/corpus/expected.yaml) in a landing zone.

Text cases are written from the manifest's `content` in their `encoding`; the others come from the
builders below (workbooks, decompression bombs, garbage, very wide rows, symbolic links), which are
deterministic. Files land in manifest order, 10 seconds apart (the received order decides corrections).
"""

from __future__ import annotations

import io
import os
import random
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook

MANIFEST = Path(__file__).with_name("expected.yaml")
T0 = 1_600_000_000  # 2020-09-13, the first file's modification time
BOMB_BYTES = 64 << 20  # sheet XML a bomb unpacks to

BUILDINGS_HEADER = ["填报单位代码", "统计期", "项目代码", "项目名称", "单体编号", "开工日期", "建筑类别", "结构体系",
                    "总建筑面积(m²)", "装配式建筑面积(m²)", "主体结构得分", "围护墙和内隔墙得分", "装修和设备管线得分",
                    "全装修"]


@dataclass(frozen=True)
class Case:
    path: str  # relative to the landing zone
    spec: dict[str, Any]

    @property
    def kind(self) -> str | None:
        parts = self.path.split("/")
        return parts[0] if len(parts) == 2 else None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.spec[name]
        except KeyError:
            raise AttributeError(name) from None


def load_cases() -> list[Case]:
    doc = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return [Case(c["path"], c) for c in doc["cases"]]


def _building_row(unit: str, period: str, project: str, no: str, day: str) -> list[str]:
    return [unit, period, project, "项目" + project, no, day, "居住建筑", "装配式混凝土", "1000", "800",
            "30", "15", "20", "是"]


def _csv(rows: list[list[str]]) -> bytes:
    return "".join(",".join(r) + "\n" for r in rows).encode("utf-8")


def _workbook_bytes(wb: Workbook) -> bytes:
    wb.properties.creator = "corpus"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _buildings_workbook(rows: list[list[Any]], title: str | None = None) -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "装配式建筑"
    if title:
        ws.append([title])
    ws.append(BUILDINGS_HEADER)
    for r in rows:
        ws.append(r)
    return wb


# ---------------------------------------------------------------------------------------------- builders


def xlsx_second_sheet(case: Case, outside: Path) -> bytes:
    wb = Workbook()
    cover = wb.active
    cover.title = "封面"
    cover.append(["平湖市2020年1月装配式建筑统计报表"])
    ws = wb.create_sheet("装配式建筑")
    ws.append(BUILDINGS_HEADER)
    ws.append([330482, "2020-01", "B08-P1", "平湖广场", "1#", date(2020, 1, 13), "公共建筑", "钢结构", 5000, 4000,
               40, 15, 20, "是"])
    ws.append([330482, "2020-01", "B08-P1", "平湖广场", "2#", date(2020, 1, 28), "公共建筑", "钢结构", 6000, 4500,
               40, 15, 20, "是"])
    return _workbook_bytes(wb)


def xlsx_formula_text(case: Case, outside: Path) -> bytes:
    header = [*BUILDINGS_HEADER, "建设单位", "备注"]
    wb = Workbook()
    ws = wb.active
    ws.title = "装配式建筑"
    ws.append(header)
    ws.append(["330424", "2020-04", "B22-P1", '=HYPERLINK("http://x.example/","点我")', "1#", "2020-04-03",
               "居住建筑", "装配式混凝土", 1000, 800, 30, 15, 20, "是", "+cmd|' /C calc'!A0", "@SUM(A1:A9)"])
    for cell in ws[2]:
        if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
            cell.data_type = "s"  # a text cell that looks like a formula, as a user types it after an apostrophe
    return _workbook_bytes(wb)


def xlsx_percent_title(case: Case, outside: Path) -> bytes:
    header = [*BUILDINGS_HEADER, "装配率"]
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["海盐县2020年8月装配式建筑统计表"])
    ws.append(header)
    ws.append(["330424", "2020-08", "B52-P1", "海盐城", "1#", date(2020, 8, 5), "居住建筑", "装配式混凝土", 1000, 800,
               30, 15, 20, "是", 0.65])
    ws.append(["330424", "2020-08", "B52-P1", "海盐城", "2#", date(2020, 8, 6), "居住建筑", "装配式混凝土", 1000, 800,
               35, 15, 20, "是", 0.7])
    for r in (3, 4):
        ws.cell(row=r, column=len(header)).number_format = "0%"
        ws.cell(row=r, column=6).number_format = "yyyy-mm-dd"
    return _workbook_bytes(wb)


def xlsx_bases(case: Case, outside: Path) -> bytes:
    wb = Workbook()
    wb.active.title = "封面"
    wb.active.append(["秀洲区装配式建筑生产基地名录（2020年）"])
    ws = wb.create_sheet("生产基地")
    ws.append(["填报单位代码", "基地名称", "基地类型", "设计产能", "产能单位", "投产日期", "状态"])
    ws.append([330411, "秀洲构件厂", "混凝土预制构件", 120000, "m3/yr", date(2017, 9, 1), "在产"])
    ws.append([330411, "秀洲钢构", "钢结构构件", 40000, "t/yr", None, "在产"])
    return _workbook_bytes(wb)


def xlsx_targets(case: Case, outside: Path) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "年度目标任务"
    ws.append(["单位代码", "年度", "新开工装配式建筑面积任务", "住宅和公共建筑装配式面积任务", "装配式建筑占比目标"])
    ws.append(["330400", 2021, 1500000, 1200000, 0.3])
    ws.append(["330402", 2021, 200000, None, 0.32])
    ws.append(["330471", 2021, 100000, None, None])
    for r in (2, 3):
        ws.cell(row=r, column=5).number_format = "0%"
    return _workbook_bytes(wb)


def _small_workbook() -> bytes:
    return _workbook_bytes(_buildings_workbook([_building_row("330421", "2020-05", "B30-P1", "1#", "2020-05-03")]))


def xlsx_truncated(case: Case, outside: Path) -> bytes:
    data = _small_workbook()
    return data[: len(data) // 2]


def xlsx_as_csv(case: Case, outside: Path) -> bytes:
    return _small_workbook()


def _bomb() -> bytes:
    """A real workbook whose sheet XML is followed by BOMB_BYTES of spaces (legal XML whitespace)."""
    base = _small_workbook()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED,
                                                                   compresslevel=9) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, data)
                continue
            entry = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(entry, "w") as fh:
                fh.write(data)
                chunk = b" " * (1 << 20)
                for _ in range(BOMB_BYTES // len(chunk)):
                    fh.write(chunk)
    return out.getvalue()


def _patch_size(data: bytes, name: str, size: int) -> bytes:
    """Rewrite the uncompressed size an entry declares, in its local header and in the central directory."""
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
        start_dir = zf.start_dir
    assert buf[info.header_offset:info.header_offset + 4] == b"PK\x03\x04"
    struct.pack_into("<I", buf, info.header_offset + 22, size)
    pos = start_dir
    while buf[pos:pos + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", buf, pos + 28)
        if bytes(buf[pos + 46:pos + 46 + n]).decode("utf-8") == name:
            struct.pack_into("<I", buf, pos + 24, size)
        pos += 46 + n + m + k
    return bytes(buf)


def xlsx_bomb_ratio(case: Case, outside: Path) -> bytes:
    return _bomb()


def xlsx_bomb_lying(case: Case, outside: Path) -> bytes:
    return _patch_size(_bomb(), "xl/worksheets/sheet1.xml", 2000)


def xlsx_bomb_declared(case: Case, outside: Path) -> bytes:
    return _patch_size(_small_workbook(), "xl/worksheets/sheet1.xml", 0xFFFFFFF0)


def _far_cell(ref: str, dimension: str | None = None) -> bytes:
    """A one-row workbook with one more cell, at `ref`; the sheet declares its range as openpyxl computes it,
    or as `dimension` (a range that lies about the cells)."""
    wb = _buildings_workbook([_building_row("330402", "2020-10", "B60-P1", "1#", "2020-10-08")])
    wb.active[ref] = "x"
    data = _workbook_bytes(wb)
    if dimension is None:
        return data
    return _rewrite_part(data, "xl/worksheets/sheet1.xml",
                         lambda xml: re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"'.encode(), xml))


def _rewrite_part(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            part = src.read(info.filename)
            dst.writestr(info, change(part) if info.filename == name else part)
    return out.getvalue()


def xlsx_cell_at_xfd1048576(case: Case, outside: Path) -> bytes:
    return _far_cell("XFD1048576")


def xlsx_cell_at_az1048576(case: Case, outside: Path) -> bytes:
    return _far_cell("AZ1048576")


def xlsx_cell_far_right_undeclared(case: Case, outside: Path) -> bytes:
    return _far_cell("XFD2", dimension="A1:N2")


def xlsx_hidden_first_sheet(case: Case, outside: Path) -> bytes:
    """The first sheet (an old draft, with the template's header) is hidden; the visible one holds the data."""
    wb = Workbook()
    draft = wb.active
    draft.title = "草稿"
    draft.append(BUILDINGS_HEADER)
    draft.append(_building_row("330424", "2020-10", "B61-P1", "9#", "2020-10-09"))
    draft.sheet_state = "hidden"
    ws = wb.create_sheet("报表")
    ws.append(BUILDINGS_HEADER)
    ws.append(_building_row("330424", "2020-10", "B61-P1", "1#", "2020-10-09"))
    ws.append(_building_row("330424", "2020-10", "B61-P1", "2#", "2020-10-10"))
    wb.active = 1
    return _workbook_bytes(wb)


def ole2(streams: list[str]) -> bytes:
    """An OLE2 compound file's header and a directory sector naming `streams` (no stream data): what a
    password-protected .xlsx (EncryptionInfo, EncryptedPackage) or an old .xls (Workbook) starts with."""
    header = bytearray(512)
    header[:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<III", header, 44, 1, 0, 0)  # one FAT sector, the directory at sector 0
    entries = bytearray()
    for i, name in enumerate(["Root Entry", *streams]):
        entry = bytearray(128)
        encoded = (name + "\0").encode("utf-16-le")
        entry[:len(encoded)] = encoded
        struct.pack_into("<HBB", entry, 64, len(encoded), 5 if i == 0 else 2, 1)
        entries += entry
    return bytes(header) + bytes(entries.ljust(512, b"\0"))


def xlsx_password_protected(case: Case, outside: Path) -> bytes:
    return ole2(["\x06DataSpaces", "EncryptionInfo", "EncryptedPackage"])


def xlsx_old_xls(case: Case, outside: Path) -> bytes:
    return ole2(["\x05SummaryInformation", "Workbook"])


def garbage(case: Case, outside: Path) -> bytes:
    rng = random.Random(case.path)
    return bytes(rng.randrange(256) for _ in range(4096))


def csv_wide_row(case: Case, outside: Path) -> bytes:
    rows = [BUILDINGS_HEADER, _building_row("330471", "2020-04", "B23-P1", "1#", "2020-04-03"),
            _building_row("330471", "2020-04", "B23-P1", "2#", "2020-04-03") + [f"x{i}" for i in range(5000)],
            _building_row("330471", "2020-04", "B23-P1", "3#", "2020-04-03")]
    return _csv(rows)


def csv_wide_empty(case: Case, outside: Path) -> bytes:
    rows = [BUILDINGS_HEADER + [""] * 5000,
            _building_row("330472", "2020-04", "B24-P1", "1#", "2020-04-03") + [""] * 5000,
            _building_row("330472", "2020-04", "B24-P1", "2#", "2020-04-03") + [""] * 5000]
    return _csv(rows)


def csv_oversize(case: Case, outside: Path) -> bytes:
    rows = [BUILDINGS_HEADER]
    size = 0
    i = 0
    while size <= 1_050_000:
        rows.append(_building_row("330424", "2020-05", "B31-P1", f"{i}#", "2020-05-03"))
        size += len(",".join(rows[-1]).encode()) + 1
        i += 1
    return _csv(rows)


def csv_long_cell(case: Case, outside: Path) -> bytes:
    """A 150,000-character 项目名称 (over the csv module's default field limit of 131,072) in a file that
    takes the exact (csv module) path: a line of spaces."""
    rows = [BUILDINGS_HEADER, _building_row("330424", "2020-12", "C04-P1", "1#", "2020-12-03"),
            _building_row("330424", "2020-12", "C04-P1", "2#", "2020-12-03"), ["   "],
            _building_row("330424", "2020-12", "C04-P1", "3#", "2020-12-03")]
    rows[2][3] = "长" * 150_000
    return _csv(rows)


def csv_late_nul(case: Case, outside: Path) -> bytes:
    """Valid UTF-8 for more than 4 KiB, then a NUL byte inside a cell."""
    rows = [BUILDINGS_HEADER] + [_building_row("330471", "2020-12", "C05-P1", f"{i}#", "2020-12-03")
                                 for i in range(60)]
    rows[-1][3] = "项目\x00C05"
    data = _csv(rows)
    assert data.index(b"\x00") > 4096
    return data


def utf16_nul(case: Case, outside: Path) -> bytes:
    """UTF-16 with a byte-order mark (tab separated), a U+0000 character in a cell."""
    rows = [BUILDINGS_HEADER, _building_row("330472", "2020-12", "C06-P1", "1#", "2020-12-03")]
    rows[1][3] = "项目\x00C06"
    return b"\xff\xfe" + "".join("\t".join(r) + "\r\n" for r in rows).encode("utf-16-le")


def csv_invisible_and_digits(case: Case, outside: Path) -> bytes:
    """Zero-width characters inside cells (loaded, removed from the values); Arabic-Indic digits in a date
    and in an area, and an hour of 99 (quarantined); full-width digits (loaded)."""
    rows = [BUILDINGS_HEADER] + [_building_row("330481", "2020-12", "C07-P1", f"{i}#", "2020-12-03")
                                 for i in range(1, 7)]
    rows[1][13] = "\ufeff是"  # row 2
    rows[1][8] = "1\u200b200"
    rows[1][3] = "项目\u2060C07"
    rows[2][5] = "٢٠٢٠-١٢-٠٥"  # row 3
    rows[3][8] = "١٢٠٠"  # row 4
    rows[4][5] = "2020-12-05 99:00"  # row 5
    rows[5][5] = "２０２０－１２－０５"  # row 6
    rows[6][12] = "2\u200d0"  # row 7
    return _csv(rows)


def _outside_csv(outside: Path, name: str) -> Path:
    target = outside / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_csv([BUILDINGS_HEADER, _building_row("330471", "2020-05", "B32-P1", "1#", "2020-05-03")]))
    return target


def symlink_outside(case: Case, outside: Path) -> Path:
    return _outside_csv(outside, "secret.csv")


def symlink_dir_outside(case: Case, outside: Path) -> Path:
    return _outside_csv(outside, "somedir/330472_2020-05.csv").parent


BUILDERS: dict[str, Callable[[Case, Path], bytes | Path]] = {f.__name__: f for f in (
    xlsx_second_sheet, xlsx_formula_text, xlsx_percent_title, xlsx_bases, xlsx_targets, xlsx_truncated,
    xlsx_as_csv, xlsx_bomb_ratio, xlsx_bomb_lying, xlsx_bomb_declared, xlsx_cell_at_xfd1048576,
    xlsx_cell_at_az1048576, xlsx_cell_far_right_undeclared, xlsx_hidden_first_sheet, xlsx_password_protected,
    xlsx_old_xls, garbage, csv_wide_row, csv_wide_empty, csv_oversize, symlink_outside, symlink_dir_outside,
    csv_long_cell, csv_late_nul, utf16_nul, csv_invisible_and_digits)}


def case_bytes(case: Case) -> bytes:
    """The bytes of a text case, as the manifest describes them."""
    text = case.spec["content"]
    if case.spec.get("delimiter") == "tab":
        text = text.replace(",", "\t")
    if case.spec.get("newline") == "crlf":
        text = text.replace("\n", "\r\n")
    encoding = case.spec["encoding"]
    if encoding == "utf-16":
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode(encoding)


def land_corpus(landing: Path, outside: Path) -> list[Case]:
    """Write every case into `landing` (symbolic links point into `outside`); returns the cases."""
    cases = load_cases()
    written: dict[str, bytes] = {}
    for i, case in enumerate(cases):
        path = landing / case.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if "build" in case.spec:
            made = BUILDERS[case.build](case, outside)
        elif "same_bytes_as" in case.spec:
            made = written[case.same_bytes_as]
        else:
            made = case_bytes(case)
        if isinstance(made, Path):
            os.symlink(made, path)
        else:
            path.write_bytes(made)
            written[case.path] = made
        mtime = T0 + 10 * i
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return cases


if __name__ == "__main__":  # python -m tests.corpus.build <folder>: land the corpus to look at it
    import sys

    root = Path(sys.argv[1])
    print(f"{len(land_corpus(root / 'landing', root / 'outside'))} files landed in {root / 'landing'}")
