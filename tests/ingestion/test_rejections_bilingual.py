"""Every whole-file rejection the real readers give is stored Chinese first, then the English (issue 15;
`foundation.bilingual`): hostile and broken files (NUL bytes, undecodable text, a workbook named .csv, text
named .xlsx, an old .xls, a password-protected workbook, another OLE2 document, decompression bombs, a sheet
spanning a whole Excel sheet, a file over the size limit, a wrong extension) and files whose header cannot be
used (two columns for one field, an area unit that is not m² or 万m², no header row)."""

from __future__ import annotations

import re
from pathlib import Path

from foundation import bilingual
from ingestion.errors import RejectedFile
from ingestion.read import read_batch, read_submission
from tests.corpus import build
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
