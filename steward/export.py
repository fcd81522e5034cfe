"""A submission's quarantined rows as an XLSX workbook the county can correct and send back.

The sheet is named and headed as the submission template (foundation/template.py) says, with the values as the
county wrote them (a column headed in 万m² keeps that unit in its header), so the corrected file is read like
any other submission. Two extra columns follow: `行号` (the row number in the file received; the readers ignore
a column of that name) and `问题说明` (why the row was refused). Cells the county wrote under headers the
template does not know are kept, after those, under their own headers.

Untrusted text never becomes a formula (OWASP CSV/formula injection): every cell goes through
`steward.spreadsheet.neutralise` (a leading apostrophe on text starting like a formula), and every cell is a
plain string or integer.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from foundation import template
from ingestion.headers import header_unit, header_unit_factor, match_header
from steward.spreadsheet import neutralise

ROW_NUMBER_HEADER = "行号"
REASONS_HEADER = "问题说明"


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
        line += [int(r["row_number"]), neutralise("；".join(str(x) for x in r["reasons"] or []))]
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
