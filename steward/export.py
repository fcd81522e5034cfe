"""Exports for spreadsheets: the open quarantined rows as a CSV, and a submission's quarantined rows as the XLSX
workbook the county corrects and sends back (`python -m steward export quarantine ...`, and the web app's
download).

Untrusted text never becomes a formula (OWASP CSV/formula injection). Text a submitter typed is kept verbatim in
the warehouse, but a cell that starts like a formula (`=HYPERLINK(...)`, `+cmd|...`, `-2+3`, `@SUM(...)`) would
run as one when a steward opens an export in Excel or WPS. Every text cell written for a spreadsheet goes through
`neutralise`, which prefixes such text with an apostrophe (shown by Excel as the plain text, never evaluated);
any other export for a spreadsheet must use it too.

The CSV (`export_quarantine`): the kind, the file, the row number, the status, the reasons and every cell of the
row as received, one column per header; headed in Chinese (`CSV_HEADER`, from the app's message catalogue);
UTF-8 with BOM, so Excel opens it correctly.

The workbook (`quarantine_workbook`): the sheet is named and headed as the submission template
(foundation/template.py) says, with the values as the county wrote them (a column headed in 万m² keeps that unit
in its header), so the corrected file is read like any other submission. Two extra columns follow: `行号` (the row
number in the file received; the readers ignore a column of that name) and `问题说明` (why the row was refused).
Cells the county wrote under headers the template does not know are kept, after those, under their own headers.
Every cell is a plain string or integer.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from foundation import bilingual, template
from foundation.config import Settings
from foundation.db import connect_warehouse
from ingestion.headers import header_unit, header_unit_factor, match_header
from steward.messages import text

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")  # full-width forms too: WPS evaluates them
ROW_NUMBER_HEADER = "行号"
REASONS_HEADER = "问题说明"
# The CSV's own columns, headed as the steward pages head them (steward/messages.py): 类型, 文件, 行号, 状态, 问题说明.
CSV_HEADER = (text("zh", "col_kind"), text("zh", "col_file"), ROW_NUMBER_HEADER, text("zh", "col_status"),
              REASONS_HEADER)


ILLEGAL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # not allowed in XML 1.0
CONTROL_NAMES = ("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO",
                 "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS",
                 "RS", "US")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"<{CONTROL_NAMES[code]}>" if code < 32 else f"<U+{code:04X}>"


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would take for a formula, made inert with a leading apostrophe, and characters
    a spreadsheet cannot hold shown as `<NUL>`-style names; other values (numbers, dates, None, ordinary
    text) unchanged."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS.sub(_visible, value)  # `a\x00b` -> `a<NUL>b`: openpyxl refuses the former
        if value.startswith(FORMULA_STARTS):
            return "'" + value
    return value


# --- CSV -----------------------------------------------------------------------------------------------------

def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """A CSV that Excel opens correctly (UTF-8 with BOM), every cell neutralised; returns the row count."""
    n = 0
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([neutralise(h) for h in header])
        for row in rows:
            writer.writerow(["" if v is None else neutralise(v) for v in row])
            n += 1
    return n


def export_quarantine(settings: Settings, path: Path, status: str | None = "open",
                      submission_id: str | None = None) -> int:
    """The quarantined rows (of one status, or all with None; of one submission, or all) as a CSV for stewards;
    returns the row count."""
    where, params = [], []
    if status:
        where.append("q.status = ?")
        params.append(status)
    if submission_id:
        where.append("q.submission_id = ?")
        params.append(submission_id)
    with connect_warehouse(settings, read_only=True) as con:
        rows = con.execute(f"""
            select l.kind, l.file_name, q.row_number, q.status, q.reasons, q.raw
            from dq.quarantined_rows as q join dq.submission_ledger as l using (submission_id)
            {"where " + " and ".join(where) if where else ""}
            order by l.kind, l.file_name, q.row_number""", params).fetchall()
    cells = [json.loads(raw) for *_, raw in rows]
    columns: dict[str, None] = {}
    for c in cells:
        columns.update(dict.fromkeys(c))
    header = [*CSV_HEADER, *columns]
    body = ([kind, name, row_number, st, "; ".join(reasons), *(c.get(k) for k in columns)]
            for (kind, name, row_number, st, reasons, _), c in zip(rows, cells, strict=True))
    return write_csv(path, header, body)


# --- the county's correction workbook ------------------------------------------------------------------------


def _columns(kind: str, raw_keys: Iterable[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """(template headers, raw key -> template header, raw keys the template does not know)."""
    fields = template.fields(kind)
    headers = {f.name: f.zh for f in fields}
    field_of: dict[str, str] = {}
    unknown: list[str] = []
    for key in raw_keys:
        name = match_header(kind, key)
        if name is None or name in field_of.values():
            unknown.append(key)
            continue
        field_of[key] = name
        factor = header_unit_factor(key)
        if factor and factor != 1:
            headers[name] = f"{headers[name]}({header_unit(key)})"
    key_to_header = {k: headers[name] for k, name in field_of.items()}
    return [headers[f.name] for f in fields], key_to_header, unknown


def quarantine_workbook(kind: str, rows: list[dict]) -> bytes:
    """XLSX bytes for rows with `row_number`, `raw` (the row's JSON as received) and `reasons` (list)."""
    values = []
    for r in rows:
        try:
            parsed = json.loads(r["raw"])
        except ValueError:
            parsed = {}
        values.append(parsed if isinstance(parsed, dict) else {})
    seen: dict[str, None] = {}
    for v in values:
        seen.update(dict.fromkeys(str(k) for k in v))
    headers, key_to_header, unknown = _columns(kind, seen)

    wb = Workbook()
    ws = wb.active
    ws.title = template.SHEET_NAMES[kind][1]
    ws.append([neutralise(h) for h in [*headers, ROW_NUMBER_HEADER, REASONS_HEADER, *unknown]])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r, v in zip(rows, values, strict=True):
        by_header = {key_to_header[k]: str(x) for k, x in v.items() if k in key_to_header}
        line = [neutralise(by_header.get(h, "")) for h in headers]
        # the county reads Chinese: the Chinese part of each reason (foundation.bilingual)
        line += [int(r["row_number"]), neutralise("；".join(bilingual.part(str(x), "zh") for x in r["reasons"] or []))]
        line += [neutralise(str(v.get(k, ""))) for k in unknown]
        ws.append(line)
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.number_format = "@"  # text: the spreadsheet program keeps what the county types as typed
                cell.data_type = "s"
    reasons_col = len(headers) + 2
    ws.column_dimensions[ws.cell(row=1, column=reasons_col).column_letter].width = 60
    for cell in ws.iter_cols(min_col=reasons_col, max_col=reasons_col):
        for c in cell:
            c.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
