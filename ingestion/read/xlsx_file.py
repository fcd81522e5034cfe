"""XLSX: the template's sheet (or the first visible one) read with calamine, its cells rendered as the text a
user typed (`cell_text`); percentages shown with a % format are looked up with openpyxl, only when such cells
may exist. Hidden sheets (and chart sheets) are never read: the submitter did not see them; the file gets a
warning naming each hidden sheet that was passed over."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from foundation import template
from foundation.bilingual import join
from ingestion.errors import RejectedFile, unreadable_xlsx
from ingestion.headers import fold_header, match_headers
from ingestion.read.grid import Grid
from ingestion.read.header_row import HEADER_SEARCH_ROWS, HeaderSearch


def cell_text(value: Any) -> str:
    """One cell value as text, the way a user would have typed it: '' for empty, integral floats without
    '.0' (330402.0 -> '330402'), dates as ISO 'YYYY-MM-DD' (with ' HH:MM:SS' when not midnight),
    booleans as 'TRUE'/'FALSE'."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return ""
        value = pd.Timestamp(value).to_pydatetime()
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def choose_sheet(kind: str, sheets: list[tuple[str, bool]]) -> tuple[str, list[str]]:
    """(the sheet to read, warnings) among the workbook's (name, visible worksheet) in order: the first
    visible one named as `template.SHEET_NAMES` says, else the first visible one; the warnings name the
    hidden sheets passed over (all of them when one of them has the template's name)."""
    wanted = {fold_header(s) for s in template.SHEET_NAMES[kind]}
    visible = [name for name, shown in sheets if shown]
    if not visible:
        raise RejectedFile(join("工作簿中没有可见的工作表：请取消隐藏含表格的工作表（右键工作表标签 > 取消隐藏）"
                                "后重新报送",
                                "the workbook has no visible worksheet: unhide the sheet with the table (right-click "
                                "a sheet tab > Unhide) and send it again"))
    sheet = next((s for s in visible if fold_header(s) in wanted), visible[0])
    before = [name for name, _ in sheets[:[n for n, _ in sheets].index(sheet)]]
    hidden = [name for name, shown in sheets if not shown
              and (name in before or fold_header(name) in wanted)]
    warnings = [join(f"隐藏的工作表“{name}”未读取，读取的是工作表“{sheet}”（如果数据在隐藏的工作表上，请取消隐藏它、"
                     "删除另一个工作表后重新报送）",
                     f"hidden sheet skipped: the workbook's hidden sheet '{name}' was not read; sheet '{sheet}' was "
                     "read instead (if the data is on the hidden sheet, unhide it, delete the other sheet and send the "
                     "file again)") for name in hidden]
    return sheet, warnings


def xlsx_grid(path: Path, kind: str) -> Grid:
    """The template's sheet of a workbook (named as `template.SHEET_NAMES` says, else the first visible one)
    as a grid; raises RejectedFile when it cannot be read or has no header row."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        if not workbook.sheet_names:
            raise RejectedFile(join("工作簿中没有任何工作表：请把表格放在工作表中，另存为 .xlsx 后重新报送",
                                    "the workbook has no sheets: put the table on a sheet, save it as .xlsx and send "
                                    "it again"))
        sheets = [(m.name, m.visible == SheetVisibleEnum.Visible and m.typ == SheetTypeEnum.WorkSheet)
                  for m in workbook.sheets_metadata]
        sheet, warnings = choose_sheet(kind, sheets)
        rows = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except RejectedFile:
        raise
    except Exception as exc:  # calamine raises its own error types, and zip/xml errors
        raise unreadable_xlsx(f"{type(exc).__name__}: {exc}", f"{type(exc).__name__}: {exc}") from None
    first = [[cell_text(v) for v in row] for row in rows[:HEADER_SEARCH_ROWS]]
    search = HeaderSearch(kind, first)
    if search.index is None:
        raise search.reject(kind, sheet)
    hi = search.index
    headers = [h.strip() for h in first[hi]]
    ncols = max((len(r) for r in rows), default=0)
    headers += [""] * (ncols - len(headers))
    body = rows[hi + 1:]
    mapping = match_headers(kind, headers)
    percent_cols = [i for i, name in mapping.items()
                    if next(f for f in template.fields(kind) if f.name == name).type == "percent"]
    percent_cells = _percent_formatted(path, sheet, hi + 2, body, percent_cols)
    texts: list[list[str]] = []
    for r, row in enumerate(body):
        out = [v if type(v) is str else cell_text(v) for v in row]
        if len(out) < ncols:
            out += [""] * (ncols - len(out))
        for c in percent_cells.get(r, ()):
            out[c] = cell_text(round(row[c] * 100, 10)) + "%"
        texts.append(out)
    numbers = np.arange(len(texts), dtype=np.int64) + hi + 2
    keep = np.array([any(c.strip() for c in row) for row in texts], dtype=bool) if texts else np.zeros(0, bool)
    texts = [row for row, k in zip(texts, keep, strict=True) if k]
    numbers = numbers[keep]
    columns = ([pa.chunked_array([pa.array(list(col), type=pa.string())]) for col in zip(*texts, strict=True)]
               if texts else [pa.chunked_array([], pa.string()) for _ in range(ncols)])
    return Grid(headers, hi + 1, columns, numbers, {}, sheet=sheet, warnings=warnings)


def _percent_formatted(path: Path, sheet: str, first_row: int, body: list[list[Any]],
                       cols: list[int]) -> dict[int, list[int]]:
    """Body positions of numeric cells in percentage columns that Excel displays with a % format (their
    value is a fraction: 85% is stored as 0.85). Only opened with openpyxl when such cells may exist."""
    candidates = {c for c in cols for row in body
                  if c < len(row) and type(row[c]) is float and 0 < abs(row[c]) <= 1.5}
    if not candidates:
        return {}
    import openpyxl

    out: dict[int, list[int]] = {}
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        ws = wb[sheet]
        for c in candidates:
            for r, (cell,) in enumerate(ws.iter_rows(min_row=first_row, max_row=first_row + len(body) - 1,
                                                     min_col=c + 1, max_col=c + 1)):
                value = body[r][c] if c < len(body[r]) else None
                if type(value) is float and "%" in (getattr(cell, "number_format", "") or ""):
                    out.setdefault(r, []).append(c)
        wb.close()
    except Exception:  # formats are a refinement; calamine already read the values
        return {}
    return out
