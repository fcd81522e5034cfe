"""Every whole-file rejection the real readers give is stored Chinese first, then the English (issue 15;
`foundation.bilingual`): hostile and broken files (NUL bytes, undecodable text, a workbook named .csv, text
named .xlsx, an old .xls, a password-protected workbook, another OLE2 document, decompression bombs, a sheet
spanning a whole Excel sheet, a file over the size limit, a wrong extension) and files whose header cannot be
used (two columns for one field, an area unit that is not m² or 万m², no header row)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from foundation import bilingual
from ingestion.errors import RejectedFile
from ingestion.read import read_batch, read_submission
from tests.corpus import build
from tests.helpers.landing import HEADER as HEADER_LINE
from tests.helpers.landing import land, row, run
from tests.helpers.readers import HEADER, ROWS, csv_text

CJK = re.compile("[\u4e00-\u9fff]")
QUOTED = re.compile(r"“[^”]*”|'[^']*'")  # values quoted from the file: a file name, a header, a sheet's name


def _csv(*rows: list[str]) -> bytes:
    return csv_text(list(rows)).encode("utf-8")


# file name -> (bytes, what the English part says, what the Chinese part says)
FILES: dict[str, tuple[bytes, str, str]] = {
    "nul.csv": (_csv(*ROWS[2:4]) + b"x\x00y\n", "contains NUL bytes", "NUL 字节"),
    "late_nul.csv": (build.csv_late_nul(None, None), "contains NUL bytes", "NUL 字节"),
    "utf16_nul.csv": (build.utf16_nul(None, None), "U+0000 characters in UTF-16 text", "NUL 字符（U+0000）"),
    "utf16_bad.csv": (b"\xff\xfe" + "序号".encode("utf-16-le") + b"\x00\xd8a\x00",
                      "cannot decode the file as UTF-16", "无法按 UTF-16 解码"),
    "undecodable.csv": (_csv(*ROWS[2:4]) + b"\xff\xfe\xff\x80\n", "cannot decode the file as UTF-8, UTF-16 or "
                        "GB18030", "无法按 UTF-8、UTF-16 或 GB18030 解码"),
    "workbook.csv": (build.xlsx_as_csv(None, None), "is a zip archive", "zip 压缩包"),
    "text.xlsx": (_csv(*ROWS), "not a readable XLSX workbook", "不是可读取的 XLSX 工作簿"),
    "truncated.xlsx": (build.xlsx_truncated(None, None), "not a readable XLSX workbook", "不是可读取的 XLSX 工作簿"),
    "old.xlsx": (build.xlsx_old_xls(None, None), "old .xls format", "旧版 Excel 97-2003 .xls 工作簿"),
    "locked.xlsx": (build.xlsx_password_protected(None, None), "password protected", "已加密（受密码保护）"),
    "word.xlsx": (build.ole2(["WordDocument"]), "not an .xlsx workbook", "旧版 Office（OLE2）文档"),
    "bomb_ratio.xlsx": (build.xlsx_bomb_ratio(None, None), "decompression bomb", "疑似解压炸弹"),
    "bomb_declared.xlsx": (build.xlsx_bomb_declared(None, None), "decompression bomb", "疑似解压炸弹"),
    "far.xlsx": (build.xlsx_cell_at_xfd1048576(None, None), "sheet too large", "范围过大"),
    "wrong.txt": (_csv(*ROWS), "has extension '.txt'", "扩展名为“.txt”"),
    "two_columns.csv": (_csv([*HEADER, "总建筑面积(m²)"]), "keep one column per field", "每个字段只能有一列"),
    "hectares.csv": (_csv([h.replace("（万平方米）", "（公顷）") for h in HEADER]), "gives its unit as '公顷'",
                     "面积单位为“公顷”"),
    "no_header.csv": (_csv(["甲", "乙"], ["1", "2"]), "no header row found", "找不到表头行"),
}


def assert_chinese_first(reason: str) -> tuple[str, str]:
    """The reason's two parts: a Chinese sentence (CJK outside what it quotes from the file) before the
    separator, its English after (English words; it may quote the file and name the template's Chinese headers)."""
    assert reason.count(bilingual.SEPARATOR) == 1, reason
    zh, en = reason.split(bilingual.SEPARATOR)
    assert CJK.search(QUOTED.sub("", zh)), f"no Chinese in the Chinese part: {reason}"
    assert len(re.findall(r"\b[a-z]{3,}\b", QUOTED.sub("", en))) >= 3, f"no English in the English part: {reason}"
    return zh, en


def test_every_whole_file_rejection_is_chinese_first_with_its_english_after(tmp_path: Path) -> None:
    paths = []
    for name, (data, _, _) in FILES.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    batch = read_batch(paths, "buildings", max_unzipped_bytes=2 << 30)
    for (name, (_, en_says, zh_says)), res in zip(FILES.items(), batch.files, strict=True):
        assert isinstance(res, RejectedFile), name
        zh, en = assert_chinese_first(res.reason)
        assert en_says in en and zh_says in zh, (name, res.reason)
    big = tmp_path / "big.csv"
    big.write_bytes(_csv(*ROWS))
    try:
        read_submission(big, "buildings", max_bytes=100)
    except RejectedFile as exc:
        zh, en = assert_chinese_first(exc.reason)
        assert zh.startswith(f"文件大小为 {big.stat().st_size:,} 字节，超过上限 100 字节")
        assert "over the limit of 100" in en
    else:
        raise AssertionError("a file over the size limit was read")


def test_every_ledger_reason_of_the_stages_is_chinese_first_with_its_english_after(data_env, tmp_path: Path) -> None:
    """The stages' own reasons, as the ledger stores them: outside the landing folders, a symbolic link, an
    unknown unit and a placeholder in the name, a period after the run date, rows all for another unit, a
    duplicate, a superseded file, one older than the file already loaded."""
    s = data_env
    good = HEADER_LINE + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
    correction = HEADER_LINE + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "700")
    land(s, "330402_2020-03.csv", good, 1_600_000_000)
    land(s, "330402_2020-03_更正.csv", correction, 1_600_000_001)
    land(s, "330402_2020-03_重复.csv", correction, 1_600_000_002)
    land(s, "330499_2020-03.csv", good.replace("330402", "330499"), 1_600_000_003)
    land(s, "000000_2020-03.csv", good.replace("330402", "000000"), 1_600_000_004)
    land(s, "330402_2099-12.csv", good, 1_600_000_005)
    land(s, "330411_2020-03.csv", good, 1_600_000_006)  # every row says 330402
    (s.landing_dir / "stray.csv").write_text(good, encoding="utf-8")
    os.utime(s.landing_dir / "stray.csv", (1_600_000_007, 1_600_000_007))
    (tmp_path / "outside.csv").write_text(good, encoding="utf-8")
    link = s.landing_dir / "buildings" / "330421_2020-03.csv"
    link.symlink_to(tmp_path / "outside.csv")
    os.utime(link, (1_600_000_008, 1_600_000_008), follow_symlinks=False)
    run(s, "r1")
    land(s, "330402_2020-03_旧版.csv", good.replace("600", "650"), 1_599_999_999)  # older than the one loaded
    run(s, "r2")
    with duckdb.connect(str(s.warehouse_path), read_only=True) as con:
        reasons = con.execute("select f.file_name, l.status, l.reason from dq.submission_status_log l join "
                              "dq.submission_files f using (submission_id) where l.reason is not null").fetchall()
    got = {(name, status): reason for name, status, reason in reasons}
    expected = {
        ("330402_2020-03.csv", "superseded"): ("已被之后报送的文件“330402_2020-03_更正.csv”",
                                               "superseded by the later file"),
        ("330402_2020-03_重复.csv", "duplicate"): ("逐字节相同", "byte-identical to submission"),
        ("330499_2020-03.csv", "rejected"): ("单位代码“330499”不是已知的报送单位：它不在报送单位名录中",
                                             "it is not in the reference list of reporting units"),
        ("000000_2020-03.csv", "rejected"): ("这是占位代码", "it is a placeholder"),
        ("330402_2099-12.csv", "rejected"): ("晚于本次处理日期", "is after the run date"),
        ("330411_2020-03.csv", "rejected"): ("各行与文件名不一致：所有行的“填报单位代码”都是 330402，"
                                             "而文件名中的单位是 330411", "the rows disagree with the file name"),
        ("stray.csv", "rejected"): ("不在任何一个报送文件夹", "is not in one of the landing folders"),
        ("330421_2020-03.csv", "rejected"): ("是一个符号链接", "is a symbolic link"),
        ("330402_2020-03_旧版.csv", "superseded"): ("已载入了更晚报送的文件", "a later file for the same kind"),
    }
    assert set(got) == set(expected)
    for key, (zh_says, en_says) in expected.items():
        zh, en = assert_chinese_first(got[key])
        assert zh_says in zh and en_says in en, (key, got[key])


def test_every_warning_the_ledger_stores_is_chinese_first_with_its_english_after(data_env) -> None:
    """An unknown column, an exact copy, a totals row that disagrees, a retired unit code in the name and on
    the rows, a building already reported in another month's file."""
    s = data_env
    first = row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
    odd = (HEADER_LINE.rstrip("\n") + ",联系人\n" + first.rstrip("\n") + ",张三\n" + first.rstrip("\n") + ",张三\n"
           + "合计,,,,,,,,9999,600,,,,,\n")
    land(s, "330402_2020-03.csv", odd, 1_600_000_000)
    land(s, "140421_2020-03.csv", HEADER_LINE + row("140421", "2020-03", "Q1", "1#", "2020-03-05", "1000", "600"),
         1_600_000_001)
    land(s, "330402_2020-04.csv", HEADER_LINE + row("330402", "2020-04", "P1", "1#", "2020-04-05", "1000", "600"),
         1_600_000_002)  # P1 1# again, a month later
    run(s, "r1")
    with duckdb.connect(str(s.warehouse_path), read_only=True) as con:
        stored = con.execute("select file_name, warnings from dq.submission_files").fetchall()
    warnings = {name: list(w or []) for name, w in stored}
    found = [w for ws in warnings.values() for w in ws]
    for w in found:
        assert_chinese_first(w)
    says = [bilingual.part(w, "zh") for w in found]
    for zh in ("第 15 列“联系人”不在装配式建筑模板中，已忽略", "第 3 行与第 2 行完全相同", "合计行（第 4 行，“合计”）",
               "单位代码 140421 (长治县) 已自 2018-06-19 起撤销", "数据行：单位代码 140421 (长治县) 已自",
               "本文件有 1 个单体已在“330402_2020-03.csv”"):
        assert any(zh in x for x in says), (zh, says)
