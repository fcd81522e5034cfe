"""Implausible periods on the stage path: a file whose name says a month after the run date or before the
floor is rejected with the reason; a row whose start date is in the future is quarantined with its row number
and the reason, and the file's other rows load."""

from __future__ import annotations

from datetime import date

from foundation.periods import latest_period, period_problem
from tests.helpers.landing import HEADER, land, ledger, row, run
from tests.helpers.warehouse import warehouse_rows


def quarantined(settings) -> list[tuple]:
    return warehouse_rows(settings, "select f.file_name, q.row_number, q.reasons from dq.quarantined_rows q "
                                    "join dq.submission_files f using (submission_id) order by all")


def test_future_and_ancient_file_periods_are_rejected(data_env):
    s = data_env
    land(s, "330402_2099-12.csv", HEADER + row("330402", "2099-12", "P1", "1#", "2099-12-12", "1000", "600"), 1000)
    land(s, "330402_1900-01.csv", HEADER + row("330402", "1900-01", "P2", "1#", "1900-01-01", "1000", "600"), 1001)
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P3", "1#", "2020-03-05", "1000", "600"), 1002)
    run(s, "r1")
    got = ledger(s)
    assert got["330402_2020-03.csv"][:4] == ("loaded", 1, 1, 0)
    status, received, loaded, _, _, reason = got["330402_2099-12.csv"]
    assert (status, loaded) == ("rejected", 0)
    assert reason.startswith("文件名中的期间 2099-12 晚于本次处理日期") and "is after the run date" in reason
    status, _, loaded, _, _, reason = got["330402_1900-01.csv"]
    assert (status, loaded) == ("rejected", 0)
    assert reason.startswith("文件名中的期间 1900-01 早于最早可报期间 2000-01") and "before the earliest" in reason


def test_future_start_date_row_is_quarantined_with_reason(data_env):
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + row("330402", "2020-03", "P2", "1#", "2099-03-05", "1000", "600"), 1000)
    run(s, "r1")
    assert ledger(s)["330402_2020-03.csv"][:5] == ("loaded", 2, 1, 1, 0)
    [(name, number, reasons)] = quarantined(s)
    assert (name, number) == ("330402_2020-03.csv", 3)  # header is row 1
    plausible = [r for r in reasons if "不得早于 2000-01-01（最早受理期间）或晚于处理日期" in r]
    assert plausible and plausible[0].startswith("“开工日期”为 2099-03-05")
    assert "‖ 开工日期 start_date is 2099-03-05; expected 2000-01-01 to " in plausible[0]  # the English after


def test_ceilings_per_kind_and_the_floor_setting(data_env, monkeypatch):
    today = date(2026, 12, 2)
    assert latest_period("buildings", today) == "2026-12"
    assert latest_period("production_bases", today) == "2026"
    assert latest_period("targets", today) == "2027"  # next year's tasks are set before it begins
    assert period_problem(data_env, "targets", "330402_2027.csv", "2027", today) is None
    assert period_problem(data_env, "buildings", "330402_2027-01.csv", "2027-01", today)
    assert period_problem(data_env, "buildings", "330402_2000-01.csv", "2000-01", today) is None
    monkeypatch.setenv("PREFAB_EARLIEST_PERIOD", "2016-01")
    from foundation.config import settings

    assert "2016-01" in period_problem(settings(), "buildings", "330402_2015-12.csv", "2015-12", today)
