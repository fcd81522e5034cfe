"""The result of one check, as recorded in `dq.check_results`: the same record for submission checks and
for the publication gate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CheckResult:
    check_name: str
    severity: str  # error (blocks) | warn
    status: str  # pass | fail | warn
    failing_rows: int
    detail: str
    report_url: str | None = None
    waived_by: str | None = None  # gate only: the steward whose waiver lets this failure through
