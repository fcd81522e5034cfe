"""The extent of a workbook's sheets, checked before any reader lays a sheet out in memory.

A reader (calamine) builds a sheet as a dense grid from its first to its last cell: one cell at XFD1048576
next to a header at A1 asks for 16,384 x 1,048,576 cells (512 GiB), however small the file. This module
streams each worksheet's XML once, with expat in bounded memory (no tree is built; a DTD, which no Excel
part has, is refused, so no entity is ever expanded), and refuses a sheet whose declared range
(`<dimension ref="A1:XFD1048576"/>`) or whose cells span more than a submission can need:

- more than MAX_COLUMNS columns (the widest template table has about 25 columns, extra columns included
  a real sheet stays far below 200),
- more than MAX_ROWS rows (Excel's own limit: a coordinate beyond it is not a real sheet), or
- more than MAX_CELLS cells from first to last (32 columns by Excel's 1,048,576 rows: about 1.5 GiB laid
  out densely, which the reader's memory bound (`PREFAB_XLSX_READ_MEMORY_BYTES`) still holds).

Only cells holding a value (`<v>` or `<is>`) count for the actual extent: style-only cells (borders
painted over an empty block) are not laid out by the reader.

The exact scan calls Python for every element (4.6 s for the 100,000-row benchmark workbook, 1.4 million
cells, where calamine reads it in 1.7 s), so a sheet is first measured with two regular expressions over its
bytes (the column letters and row numbers of `<c r="...">`, as Excel and openpyxl write it: 0.4 s there),
which bound the extent from above; only a sheet that this bound does not clear (or that is written
differently: prefixed elements, cells without `r`, a DTD) is scanned exactly.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pyexpat import ExpatError, ParserCreate

from foundation.bilingual import join
from ingestion.errors import RejectedFile, unreadable_xlsx

MAX_COLUMNS = 200
MAX_ROWS = 1 << 20  # 1,048,576: Excel's last row
MAX_CELLS = 32 * MAX_ROWS
CHUNK = 1 << 16
MAX_INDEX_PART = 16 << 20  # workbook.xml, its relationships, [Content_Types].xml: a few KiB in real files
_WORKSHEET_TYPE = "spreadsheetml.worksheet+xml"
_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


class _Refused(Exception):
    """Stops the parse: the sheet is refused (the reason), or it holds a DTD (reason None)."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


def column_name(col: int) -> str:
    """1 -> 'A', 27 -> 'AA', 16384 -> 'XFD'."""
    name = ""
    while col > 0:
        col, rest = divmod(col - 1, 26)
        name = chr(65 + rest) + name
    return name


def _cell(ref: str) -> tuple[int, int] | None:
    """'AB12' -> (row 12, column 28); None when it is not a cell reference."""
    m = _REF.fullmatch(ref)
    if not m:
        return None
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col


def _stream(zf: zipfile.ZipFile, part: str, start, limit: int | None = None) -> None:
    """Feed the part to an expat parser whose start-element handler is `start(local name, attributes)`."""
    parser = ParserCreate()

    def no_dtd(*_args) -> None:
        raise _Refused(None)

    parser.StartDoctypeDeclHandler = no_dtd
    parser.EntityDeclHandler = no_dtd
    parser.StartElementHandler = lambda name, attrs: start(name[name.rfind(":") + 1:], attrs)
    parser.buffer_text = True
    read = 0
    with zf.open(part) as fh:
        while chunk := fh.read(CHUNK):
            read += len(chunk)
            if limit is not None and read > limit:
                raise unreadable_xlsx(f"部件“{part}”超过 {limit:,} 字节，Excel 文件中的这类部件不会这么大",
                                      f"part '{part}' is over {limit:,} bytes, which no such part of an Excel file is")
            parser.Parse(chunk, False)
        parser.Parse(b"", True)


def _parse(zf: zipfile.ZipFile, part: str, start, limit: int | None = None) -> None:
    try:
        _stream(zf, part, start, limit)
    except _Refused as exc:
        if exc.reason is not None:
            raise RejectedFile(exc.reason) from None
        raise unreadable_xlsx(f"部件“{part}”声明了 DTD，Excel 文件不会有 DTD",
                              f"part '{part}' declares a DTD, which no Excel file has") from None
    except ExpatError as exc:
        raise unreadable_xlsx(f"部件“{part}”不是格式正确的 XML：{exc}",
                              f"part '{part}' is not well-formed XML: {exc}") from None


def worksheets(zf: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part -> the sheet's name as Excel shows it (the part's own name for a worksheet part the
    workbook does not list): what workbook.xml lists through its relationships, and whatever
    [Content_Types].xml or the folder xl/worksheets/ says is a worksheet."""
    names = set(zf.namelist())
    sheets: dict[str, str] = {}  # relationship id -> sheet name
    targets: dict[str, str] = {}  # relationship id -> part
    content: set[str] = set()

    def on_workbook(tag: str, attrs: dict) -> None:
        if tag == "sheet":
            rid = next((v for k, v in attrs.items() if k == "r:id" or k.endswith(":id")), None)
            if rid:
                sheets[rid] = attrs.get("name", rid)

    def on_rels(tag: str, attrs: dict) -> None:
        if tag == "Relationship" and "Id" in attrs and "Target" in attrs:
            target = attrs["Target"]
            targets[attrs["Id"]] = (target.lstrip("/") if target.startswith("/")
                                    else posixpath.normpath(posixpath.join("xl", target)))

    def on_types(tag: str, attrs: dict) -> None:
        if tag == "Override" and attrs.get("ContentType", "").endswith(_WORKSHEET_TYPE):
            content.add(attrs.get("PartName", "").lstrip("/"))

    for part, handler in (("xl/workbook.xml", on_workbook), ("xl/_rels/workbook.xml.rels", on_rels),
                          ("[Content_Types].xml", on_types)):
        if part in names:
            _parse(zf, part, handler, MAX_INDEX_PART)
    out = {targets[rid]: name for rid, name in sheets.items() if targets.get(rid) in names}
    for part in sorted(content | {n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml")}):
        if part in names:
            out.setdefault(part, part)
    return out


def _too_large(rows: int, cols: int) -> tuple[str, str] | None:
    """(Chinese, English) of what is too large in a span of `rows` by `cols`; None if nothing is."""
    if cols > MAX_COLUMNS:
        return (f"{cols:,} 列，超过一份报送最多可有的 {MAX_COLUMNS} 列（模板约 25 列）",
                f"{cols:,} columns, more than the {MAX_COLUMNS} a submission can have (the template has about 25)")
    if rows > MAX_ROWS:
        return (f"{rows:,} 行，超过 Excel 工作表最多可有的 {MAX_ROWS:,} 行",
                f"{rows:,} rows, more than the {MAX_ROWS:,} an Excel sheet can have")
    if rows * cols > MAX_CELLS:
        return (f"{rows:,} 行 × {cols:,} 列（{rows * cols:,} 个单元格），超过一份报送可能需要的 {MAX_CELLS:,} 个单元格",
                f"{rows:,} rows by {cols:,} columns ({rows * cols:,} cells), more than the {MAX_CELLS:,} a "
                f"submission can need")
    return None


def _refusal(workbook: str, sheet: str, span: tuple[str, str], detail: tuple[str, str]) -> str:
    return join(f"工作簿“{workbook}”的工作表“{sheet}”范围过大：{span[0]}，{detail[0]}；未读取（请删除表格以外的行和列，"
                "或把表格复制到新工作簿，另存后重新报送）",
                f"sheet too large: sheet '{sheet}' of the workbook '{workbook}' {span[1]}: {detail[1]}; it was not "
                "read (delete the rows and columns outside the table, or copy the table into a new workbook, and "
                "save it again)")


def check_extent(zf: zipfile.ZipFile, workbook: str) -> None:
    """Raise RejectedFile when a worksheet of the open workbook declares, or has cells over, more rows,
    columns or cells than a submission can need (the module's bounds)."""
    for part, sheet in worksheets(zf).items():
        _check_sheet(zf, part, workbook, sheet)


_FAST_COLUMNS = re.compile(rb'<c r="([A-Z]{1,3})[0-9]')
_FAST_ROWS = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,9})"')
_FAST_DIMENSION = re.compile(rb'<dimension ref="([^"]*)"')
_PREFIXED_ROOT = re.compile(rb"<[A-Za-z_][\w.-]*:worksheet\b")


def _upper_bound(zf: zipfile.ZipFile, part: str) -> tuple[int, int] | None:
    """(last row, last column) that any cell of the sheet reaches, from its cell references as Excel writes
    them; None when the sheet is not written that way (or declares a DTD, or a range too large)."""
    columns: set[bytes] = set()
    rows: set[bytes] = set()
    tail = b""
    first = True
    with zf.open(part) as fh:
        while data := fh.read(1 << 20):
            buf = tail + data
            cut = buf.rfind(b"<")
            buf, tail = (buf[:cut], buf[cut:]) if cut > 0 else (buf, b"")
            if first:
                first = False
                if b"<!DOCTYPE" in buf or _PREFIXED_ROOT.search(buf):
                    return None
                if (m := _FAST_DIMENSION.search(buf)) and _declared_too_large(m.group(1).decode("ascii", "replace")):
                    return None
            found = _FAST_COLUMNS.findall(buf)
            if len(found) != buf.count(b"<c ") + buf.count(b"<c>") + buf.count(b"<c/>"):
                return None  # a cell written otherwise (no r, r not first): only the exact scan can tell
            columns.update(found)
            rows.update(_FAST_ROWS.findall(buf))
        if tail.count(b"<c ") + tail.count(b"<c>"):
            return None
    last_col = max((_cell(c.decode() + "1") or (0, 0))[1] for c in columns) if columns else 0
    return max(map(int, rows), default=0), last_col


def _declared_too_large(ref: str) -> tuple[str, str] | None:
    ends = [_cell(p) for p in ref.split(":")]
    if len(ends) in (1, 2) and all(ends):
        (r1, c1), (r2, c2) = ends[0], ends[-1]
        return _too_large(abs(r2 - r1) + 1, abs(c2 - c1) + 1)
    return None


def _check_sheet(zf: zipfile.ZipFile, part: str, workbook: str, sheet: str) -> None:
    bound = _upper_bound(zf, part)
    if bound is not None and not _too_large(*bound):
        return
    # first/last row and column of the cells holding a value; the row and column of the cell being read
    box = [MAX_ROWS + 1, 0, 1 << 30, 0]
    state = {"row": 0, "col": 0, "pending": None, "cells": 0}

    def start(tag: str, attrs: dict) -> None:
        if tag == "c":
            ref = _cell(attrs["r"]) if "r" in attrs else None
            if ref is None:
                ref = (state["row"], state["col"] + 1)  # a cell without r follows the previous one
            state["row"], state["col"] = ref
            state["pending"] = ref
        elif tag in ("v", "is") and state["pending"] is not None:
            (r, c), state["pending"] = state["pending"], None
            state["cells"] += 1
            if r < box[0]:
                box[0] = r
            if r > box[1]:
                box[1] = r
            if c < box[2]:
                box[2] = c
            if c > box[3]:
                box[3] = c
            rows, cols = box[1] - box[0] + 1, box[3] - box[2] + 1
            if cols > MAX_COLUMNS or rows > MAX_ROWS or rows * cols > MAX_CELLS or state["cells"] > MAX_CELLS:
                first, last = f"{column_name(box[2])}{box[0]}", f"{column_name(box[3])}{box[1]}"
                span = (f"有值的单元格从 {first} 到 {last}", f"has cells from {first} to {last}")
                raise _Refused(_refusal(workbook, sheet, span, _too_large(rows, cols)
                                        or (f"有值的单元格超过 {MAX_CELLS:,} 个",
                                            f"more than {MAX_CELLS:,} cells holding a value")))
        elif tag == "row":
            r = attrs.get("r")
            state["row"] = int(r) if r and r.isdigit() else state["row"] + 1
            state["col"] = 0
        elif tag == "dimension":
            ref = attrs.get("ref", "")
            if detail := _declared_too_large(ref):
                span = (f"声明其范围为 {ref}", f"declares its range as {ref}")
                raise _Refused(_refusal(workbook, sheet, span, detail))

    _parse(zf, part, start)
