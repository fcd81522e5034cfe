"""How a value is quoted in a reason or a check's detail, in each language."""

from __future__ import annotations

import math

import pandas as pd

from expectations.results import format_value


def test_values_are_quoted_as_a_steward_reads_them_and_a_missing_one_in_the_reasons_language():
    assert format_value(1250.5) == "1,250.5" and format_value(12000.0) == "12,000" and format_value(3.14159) == "3.14"
    assert format_value(pd.Timestamp("2020-03-05 00:00")) == "2020-03-05"
    for missing in (None, pd.NA, pd.NaT, math.nan):
        assert format_value(missing) == "(empty)"
        assert format_value(missing, "zh") == "（空）"
    assert format_value("330402", "zh") == "330402"
