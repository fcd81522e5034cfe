"""The result of one check, as recorded in `dq.check_results`: the same record for submission checks and
for the publication gate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass
class CheckResult:
    check_name: str
    severity: str  # error (blocks) | warn
    status: str  # pass | fail | warn
    failing_rows: int
    detail: str
    report_url: str | None = None
    waived_by: str | None = None  # gate only: the steward whose waiver lets this failure through


EMPTY = {"zh": "（空）", "en": "(empty)"}  # a missing value, as a reason in that language shows it


def format_value(value: object, lang: str = "en") -> str:
    """A value as a steward reads it in a reason or a check's detail: 1,250.5 / 12,000 / (empty) or （空）."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return EMPTY[lang]
    if isinstance(value, pd.Timestamp):  # dates are validated as datetime64
        return value.date().isoformat()
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    return str(value)
