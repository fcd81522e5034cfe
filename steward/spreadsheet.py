"""Spreadsheet exports: text a submitter typed is kept verbatim in the warehouse, but a cell that starts like a
formula (`=HYPERLINK(...)`, `+cmd|...`, `-2+3`, `@SUM(...)`) would run as one when a steward opens an
export in Excel or WPS. Every text cell written for a spreadsheet goes through `neutralise`, which prefixes
such text with an apostrophe (shown by Excel as the plain text, and never evaluated). Characters an XLSX
cell cannot hold (control characters other than tab and line ends, NUL included, and U+FFFE/U+FFFF and lone
surrogates) are written visibly instead: `<NUL>`, `<BEL>`, ... by their ASCII names, `<U+FFFE>` otherwise.

`python -m steward.spreadsheet quarantine <file.csv>` exports the open quarantined rows for stewards:
the file, the row number, the reasons and every cell of the row as received, one column per header.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from foundation.config import Settings
from foundation.db import connect_warehouse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")  # full-width forms too: WPS evaluates them
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


def export_quarantine(settings: Settings, path: Path, status: str | None = "open") -> int:
    """The quarantined rows (of one status, or all with None) as a CSV for stewards; returns the row count."""
    where = "where q.status = ?" if status else ""
    with connect_warehouse(settings, read_only=True) as con:
        rows = con.execute(f"""
            select l.kind, l.file_name, q.row_number, q.status, q.reasons, q.raw
            from dq.quarantined_rows as q join dq.submission_ledger as l using (submission_id)
            {where} order by l.kind, l.file_name, q.row_number""", [status] if status else []).fetchall()
    cells = [json.loads(raw) for *_, raw in rows]
    columns: dict[str, None] = {}
    for c in cells:
        columns.update(dict.fromkeys(c))
    header = ["kind", "file_name", "row_number", "status", "reasons", *columns]
    body = ([kind, name, row_number, st, "; ".join(reasons), *(c.get(k) for k in columns)]
            for (kind, name, row_number, st, reasons, _), c in zip(rows, cells, strict=True))
    return write_csv(path, header, body)


def main(argv: list[str] | None = None) -> int:
    from foundation.config import settings

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "quarantine":
        print("usage: python -m steward.spreadsheet quarantine <file.csv>", file=sys.stderr)
        return 2
    n = export_quarantine(settings(), Path(args[1]))
    print(f"{n} open quarantined rows written to {args[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
