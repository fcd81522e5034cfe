"""Submission file names: `<unit_code>_<YYYY-MM>[_<free text>].<csv|xlsx>` (buildings) or
`<unit_code>_<YYYY>[_<free text>].<csv|xlsx>` (production bases, targets)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from ingestion import template
from ingestion.errors import RejectedFile

EXTENSIONS = ("csv", "xlsx")

_PATTERNS = {
    "month": re.compile(r"^(?P<unit>\d{6})_(?P<year>\d{4})-(?P<month>\d{2})(?:_(?P<free>.+))?$"),
    "year": re.compile(r"^(?P<unit>\d{6})_(?P<year>\d{4})(?:_(?P<free>.+))?$"),
}
_SHAPES = {
    "month": "<unit_code>_<YYYY-MM>[_<free text>].csv|xlsx (for example 330402_2020-03.csv)",
    "year": "<unit_code>_<YYYY>[_<free text>].csv|xlsx (for example 330402_2020.xlsx)",
}


@dataclass(frozen=True)
class FileName:
    unit_code: str  # 6 digits
    period: str  # 'YYYY-MM' for buildings, 'YYYY' for production_bases and targets
    free_text: str | None
    extension: str  # 'csv' or 'xlsx', lower case


def parse_file_name(kind: str, name: str) -> FileName:
    """Parse a landing file name; raise RejectedFile with a steward-readable reason if it does not fit.

    `name` may be a bare file name or a path (only the last part is used). Full-width digits and
    underscores are accepted (the name is NFKC-normalised first); the extension is case-insensitive.
    """
    if kind not in template.PERIOD_GRAIN:
        raise ValueError(f"unknown submission kind {kind!r}; expected one of {sorted(template.PERIOD_GRAIN)}")
    grain = template.PERIOD_GRAIN[kind]
    shown = PurePath(str(name)).name
    base = unicodedata.normalize("NFKC", shown).strip()
    stem, dot, ext = base.rpartition(".")
    expected = f"does not follow {_SHAPES[grain]}"
    if not dot or ext.lower() not in EXTENSIONS:
        found = f"extension '.{ext}'" if dot else "no extension"
        raise RejectedFile(f"file name '{shown}' has {found}: {kind} files must be .csv or .xlsx "
                           f"named {_SHAPES[grain]}")
    m = _PATTERNS[grain].match(stem)
    if not m:
        if grain == "year" and _PATTERNS["month"].match(stem):
            raise RejectedFile(f"file name '{shown}' carries a month, but {kind} files are reported per "
                               f"year: expected {_SHAPES[grain]}")
        if grain == "month" and _PATTERNS["year"].match(stem):
            raise RejectedFile(f"file name '{shown}' carries a year without a month: expected {_SHAPES[grain]}")
        raise RejectedFile(f"file name '{shown}' {expected}")
    year = int(m["year"])
    if not 1900 <= year <= 2099:
        raise RejectedFile(f"file name '{shown}': year {m['year']} is not a plausible reporting year "
                           f"(1900-2099); expected {_SHAPES[grain]}")
    period = m["year"]
    if grain == "month":
        month = int(m["month"])
        if not 1 <= month <= 12:
            raise RejectedFile(f"file name '{shown}': month {m['month']} is not 01-12; expected {_SHAPES[grain]}")
        period = f"{m['year']}-{m['month']}"
    free = m["free"]
    return FileName(unit_code=m["unit"], period=period, free_text=free if free else None, extension=ext.lower())
