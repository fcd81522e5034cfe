"""Which submission periods are plausible: none after the run date, none before the reporting floor.

A building cannot have started after the day the run looks at it (the run date in `Settings.timezone`,
Asia/Shanghai), and a county's monthly returns of prefabricated construction do not go back further than
`Settings.earliest_period` (`PREFAB_EARLIEST_PERIOD`, default 2000-01). Why 2000-01: the national statistics
of prefabricated buildings began with the 2016 guidance (国办发〔2016〕71号) and GB/T 51129-2017; the floor
leaves sixteen years of margin for back-filled older projects while still catching the typing errors seen in
practice (1900-01 from an empty Excel date, 1020 for 2020), each of which would otherwise stretch the daily
indicators over a century of empty years.

Ceilings per kind: a buildings month no later than the run's month; a production-base registry no later than
the run's year; a targets year up to the year after the run's (next year's tasks are set before it begins).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from foundation.bilingual import join
from foundation.config import Settings

# The latest plausible period per kind, in years after the run date's year (months for buildings: the run's).
_YEARS_AHEAD = {"buildings": 0, "production_bases": 0, "targets": 1}


def run_date(settings: Settings) -> date:
    """Today where the bureaus are (Settings.timezone)."""
    return datetime.now(ZoneInfo(settings.timezone)).date()


def floor_date(settings: Settings) -> date:
    return date.fromisoformat(f"{settings.earliest_period}-01")


def latest_period(kind: str, today: date) -> str:
    """The latest plausible period of a kind: 'YYYY-MM' for buildings, 'YYYY' otherwise."""
    if kind == "buildings":
        return f"{today.year:04d}-{today.month:02d}"
    return f"{today.year + _YEARS_AHEAD[kind]:04d}"


def period_problem(settings: Settings, kind: str, file_name: str, period: str, today: date | None = None
                   ) -> str | None:
    """Why a file name's period is implausible (Chinese first, for the submitter), or None."""
    today = today or run_date(settings)
    latest = latest_period(kind, today)
    earliest = settings.earliest_period if kind == "buildings" else settings.earliest_period[:4]
    if period > latest:
        return join(f"文件名中的期间 {period} 晚于本次处理日期 {today.isoformat()}（最晚可报 {latest}）："
                    f"请更正文件名“{file_name}”中的期间",
                    f"file name '{file_name}': period {period} is after the run date {today.isoformat()} "
                    f"(latest accepted {latest}); correct the period in the file name")
    if period < earliest:
        return join(f"文件名中的期间 {period} 早于最早可报期间 {earliest}：请更正文件名“{file_name}”中的期间",
                    f"file name '{file_name}': period {period} is before the earliest accepted period {earliest}; "
                    "correct the period in the file name")
    return None
