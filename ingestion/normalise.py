"""Normalisers for submission cells: arrow text as received in, typed values and steward-readable reasons out.

Every normaliser (`number_values`, `date_values`, ...; `normalise_cells(field, cells)` dispatches on the
template field's type) takes the cells as an arrow string array and returns `(values, errors)`:

- `values` is a pandas Series on a RangeIndex, typed (see each function); a cell that is empty or holds one
  of the template's missing words (`template.MISSING_WORDS`: '', '—', '-', '/', '无', ...) is missing (NA),
  never an error;
- `errors` is None when no cell has an error (cheap to test on a million rows), else an object array: None
  where the cell was parsed (or missing), else a reason that names what was found and what was expected,
  for example "'2021-02-29' is not a valid calendar date".

Output dtypes (see also `ingestion.read`):

==========================  ==================================================================
field type                  values dtype
==========================  ==================================================================
number / percent / area     `Float64` (pandas nullable float); areas in m², rounded to 0.01
date                        `date32[pyarrow]` (pd.ArrowDtype(pa.date32())): elements are
                            `datetime.date`, missing is pd.NA
period                      `str` (pandas default string dtype), 'YYYY-MM'; missing is NaN
year                        `Int64`
bool                        `boolean`
code                        `str`, 6 digits
enum                        `str`, the canonical code, or the stripped original for an unknown value
text                        `str`, stripped
==========================  ==================================================================

The work is vectorised with pyarrow compute; Python runs per *distinct* value only for low-cardinality
fields (dates, periods, years, codes, enums, booleans) and per cell only for cells that failed to parse.
Header matching is `ingestion.headers`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from foundation import template
from foundation.bilingual import join
from foundation.template import Field
from ingestion.cells import (
    STR_DTYPE,
    clean_cells,
    is_missing_word,
    merge_errors,
    missing_mask,
    non_ascii_digits,
    np_float,
    numpy_bools,
    per_unique,
    quote_cell,
    str_series,
    strip_format,
    take_str,
    trim,
)
from ingestion.headers import fold_header

DATE_DTYPE = pd.ArrowDtype(pa.date32())
Core = Callable[..., tuple[pd.Series, "np.ndarray | None"]]

# ----------------------------------------------------------------------------------------------------
# Numbers and areas

_NUMBER_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_GROUPED_RE = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$"


def _plain_floats(arr: pa.ChunkedArray) -> np.ndarray | None:
    """The cells as floats if every one is a finite plain number, else None."""
    if arr.null_count:
        return None
    try:
        v = np_float(pc.cast(arr, pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return v if bool(np.isfinite(v).all()) else None


def parse_numbers(arr: pa.ChunkedArray, *, percent: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Core of `number_values`: (float64 values with NaN where missing or bad, missing mask,
    errors as an object array or None when there is none)."""
    n = len(arr)
    # Fast path: every cell is a plain number (what machine-written files hold), as read, then trimmed.
    v = _plain_floats(arr)
    if v is not None:
        return v, np.zeros(n, dtype=bool), None
    t = trim(arr)
    v = _plain_floats(t)
    if v is not None:
        return v, np.zeros(n, dtype=bool), None

    t, long_errors = clean_cells(t)
    missing = missing_mask(t)
    s = t
    if not pc.all(pc.string_is_ascii(pc.fill_null(t, ""))).as_py():
        s = pc.utf8_trim_whitespace(pc.utf8_normalize(pc.fill_null(t, ""), "NFKC"))
        s = pc.replace_substring(s, "\u2212", "-")  # minus sign
    s = pc.fill_null(s, "")
    has_pct = numpy_bools(pc.match_substring_regex(s, r"%$"))
    s = pc.replace_substring_regex(s, r"\s*%$", "")
    has_comma = numpy_bools(pc.match_substring(s, ","))
    grouped = pc.match_substring_regex(s, _GROUPED_RE)
    s = pc.if_else(grouped, pc.replace_substring(s, ",", ""), s)
    ok_arr = pc.match_substring_regex(s, _NUMBER_RE)
    ok = numpy_bools(ok_arr)
    v = np_float(pc.cast(pc.if_else(ok_arr, s, pa.scalar(None, pa.string())), pa.float64()))
    bad_pct = has_pct & ok & (not percent)
    overflow = ok & ~np.isfinite(v)
    bad = ~missing & (~ok | bad_pct | overflow)
    v = np.where(bad | missing, np.nan, v)
    errors: np.ndarray | None = None
    if bad.any():
        errors = np.full(n, None, dtype=object)
        texts = t.to_pylist() if n < 1000 else None
        for i in np.flatnonzero(bad):
            found = texts[i] if texts is not None else t[int(i)].as_py()
            if bad_pct[i]:
                errors[i] = join(f"{quote_cell(found)} 带有 % 号，但此列不是百分比",
                                 f"{quote_cell(found)} has a % sign, but this column is not a percentage")
            elif overflow[i]:
                errors[i] = join(f"{quote_cell(found)} 太大，不是有效的数字",
                                 f"{quote_cell(found)} is too large to be a number")
            elif has_comma[i]:
                errors[i] = join(f"{quote_cell(found)} 不是数字：千位分隔符须每三位一组，如 1,234.5",
                                 f"{quote_cell(found)} is not a number: thousands separators must group three "
                                 f"digits, as in 1,234.5")
            elif non_ascii_digits(found):
                errors[i] = foreign_digits_reason(found, "a number")
            else:
                errors[i] = join(f"{quote_cell(found)} 不是数字（应为 1234.5 或 1,234.5 这样的数字）",
                                 f"{quote_cell(found)} is not a number (expected digits such as 1234.5 or 1,234.5)")
    if long_errors is not None:
        v = np.where(pd.notna(long_errors), np.nan, v)
    return v, missing, merge_errors(long_errors, errors)


_WHAT_ZH = {"a number": "数字", "the date": "日期", "the month": "月份", "the year": "年份", "the code": "代码"}


def foreign_digits_reason(text: str, what: str) -> str:
    """The reason for a cell written with digits other than 0-9 (full-width digits are accepted)."""
    digits = non_ascii_digits(text)[:10]
    return join(f"{quote_cell(text)} 使用了 0-9 以外的数字（'{digits}'）：{_WHAT_ZH.get(what, what)}请用 0-9 书写",
                f"{quote_cell(text)} is written with digits other than 0-9 ('{digits}'): "
                f"write {what} with the digits 0-9")


def float_series(v: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    mask = np.isnan(v)  # + 0.0 turns -0.0 (from '-0', or -0.001 rounded) into 0.0: one zero downstream
    return pd.Series(pd.arrays.FloatingArray(np.where(mask, 0.0, v + 0.0), mask), index=index)


def number_values(arr: pa.ChunkedArray, percent: bool = False) -> tuple[pd.Series, np.ndarray | None]:
    """Numbers: full-width digits, thousands separators ',' and '，' (in groups of three), surrounding
    spaces; a trailing '%' only when `percent` (then '85%' -> 85.0: percent fields hold percentage
    points). Missing words -> NA. Values: Float64."""
    v, _, errors = parse_numbers(arr, percent=percent)
    return float_series(v), errors


def round_half_up(v: np.ndarray, decimals: int = 2) -> np.ndarray:
    """Round to `decimals` the way a person does (half away from zero) on the decimal value as written,
    absorbing binary artefacts: 1.2345 * 10000 -> 12345.0, 0.285 -> 0.29."""
    scale = 10.0**decimals
    y = np.round(v * scale, 6)
    return np.sign(y) * np.floor(np.abs(y) + 0.5) / scale


def scale_area(values: np.ndarray | pd.Series, factor: float | None) -> np.ndarray:
    """Numbers in a column's own unit -> m², rounded to 0.01 m² (DECIMAL(18,2))."""
    v = values.to_numpy(dtype=np.float64, na_value=np.nan) if isinstance(values, pd.Series) else values
    return round_half_up(v * (1.0 if factor is None else factor), 2)


def area_values(arr: pa.ChunkedArray, factor: float | None = None) -> tuple[pd.Series, np.ndarray | None]:
    """Areas: numbers in the column's unit (`factor` from `header_unit_factor`: 10000 for 万m²) -> m²,
    rounded half-up to 0.01 m². Values: Float64."""
    v, _, errors = parse_numbers(arr)
    return float_series(scale_area(v, factor)), errors


# ----------------------------------------------------------------------------------------------------
# Dates, periods, years

_EXCEL_EPOCH = dt.date(1899, 12, 30)
_DATE_FORMS = "2020-03-05, 2020/3/5, 2020年3月5日, 20200305 or an Excel date"
_DATE_FORMS_ZH = "2020-03-05、2020/3/5、2020年3月5日、20200305 或 Excel 日期"
# Digits are 0-9 only (re.ASCII; full-width digits are 0-9 after NFKC), as in numbers.
_TIME = r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})" + _TIME + r"$", re.ASCII),
    re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$", re.ASCII),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$", re.ASCII),
)
_SERIAL = re.compile(r"^(\d{5})(?:\.\d*)?$", re.ASCII)


def excel_serial_to_date(serial: float) -> dt.date:
    """Excel 1900 date system (with the Lotus leap-year bug: serial 60 is the fictitious 1900-02-29)."""
    days = int(math.floor(serial))
    if days == 60:
        raise ValueError("Excel serial 60 is the non-existent date 1900-02-29")
    if days < 60:
        days += 1
    return _EXCEL_EPOCH + dt.timedelta(days=days)


def parse_date_text(text: str) -> tuple[dt.date | None, str | None]:
    """One date cell -> (date, None) or (None, reason). Accepts 2020-03-05, 2020/3/5, 2020.3.5,
    2020年3月5日, 20200305, an optional time after the date, and 5-digit Excel serial numbers
    (10000-99999, i.e. 1927-05-18 to 2173-10-14; as text or number)."""
    s = unicodedata.normalize("NFKC", text).strip()
    for pattern in _DATE_PATTERNS:
        m = pattern.match(s)
        if m:
            y, mo, d = (int(g) for g in m.groups()[:3])
            h, mi, sec = (int(g) if g else 0 for g in (m.groups()[3:] or (None,) * 3))
            try:
                day = dt.date(y, mo, d)
            except ValueError:
                return None, join(f"{quote_cell(text)} 不是有效的日历日期（{y} 年 {mo} 月 {d} 日）",
                                  f"{quote_cell(text)} is not a valid calendar date (year {y}, month {mo}, day {d})")
            if h > 23 or mi > 59 or sec > 59:
                return None, join(f"{quote_cell(text)} 不是有效的时刻（{h}:{mi:02d}）：小时应为 0-23、分钟应为 0-59，"
                                  f"或只写日期",
                                  f"{quote_cell(text)} is not a valid time of day ({h}:{mi:02d}): expected hours "
                                  f"0-23 and minutes 0-59, or the date alone")
            return day, None
    m = _SERIAL.match(s)
    if m:
        try:
            return excel_serial_to_date(float(s)), None
        except (ValueError, OverflowError) as exc:
            return None, join(f"{quote_cell(text)} 不是有效的 Excel 日期：{exc}",
                              f"{quote_cell(text)} is not a valid Excel date: {exc}")
    if non_ascii_digits(s):
        return None, foreign_digits_reason(text, "the date")
    return None, join(f"{quote_cell(text)} 不是日期（应为 {_DATE_FORMS_ZH}）",
                      f"{quote_cell(text)} is not a date (expected {_DATE_FORMS})")


def _date_series(results: list[Any], codes: np.ndarray) -> pd.Series:
    days_u = np.array([(d - dt.date(1970, 1, 1)).days if d is not None else 0 for d in results], dtype=np.int32)
    null_u = np.array([d is None for d in results], dtype=bool)
    arr = pa.array(days_u[codes], type=pa.int32(), mask=null_u[codes]).view(pa.date32())
    return pd.Series(pd.arrays.ArrowExtensionArray(arr))


def date_values(arr: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray | None]:
    """Dates in any accepted form (see `parse_date_text`; an XLSX date arrives as the ISO text of its value) ->
    dtype date32[pyarrow] (elements are datetime.date). Invalid calendar dates (2021-02-29) are errors."""
    results, errors, codes = per_unique(arr, parse_date_text)
    return _date_series(results, codes), errors


_PERIOD_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})$", re.ASCII),
    re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月份?$", re.ASCII),
    re.compile(r"^(\d{4})(\d{2})$", re.ASCII),
)
_PERIOD_FORMS = "2020-03, 2020-3, 2020/03, 2020年3月 or 202003"
_PERIOD_FORMS_ZH = "2020-03、2020-3、2020/03、2020年3月 或 202003"


def parse_period_text(text: str) -> tuple[str | None, str | None]:
    """One statistical-period cell -> ('YYYY-MM', None) or (None, reason). A full date is accepted
    only when it is the first day of a month (Excel turns a typed '2020-03' into 2020-03-01)."""
    s = unicodedata.normalize("NFKC", text).strip()
    for pattern in _PERIOD_PATTERNS:
        m = pattern.match(s)
        if m:
            y, mo = int(m.group(1)), int(m.group(2))
            if not 1 <= mo <= 12:
                return None, join(f"{quote_cell(text)} 的月份为 {mo}，不在 1-12 之间（应为 2020-03 这样的月份）",
                                  f"{quote_cell(text)} has month {mo}, not 1-12 (expected a month such as 2020-03)")
            return f"{y:04d}-{mo:02d}", None
    date, _ = parse_date_text(text)
    if date is not None:
        if date.day == 1:
            return f"{date.year:04d}-{date.month:02d}", None
        return None, join(f"{quote_cell(text)} 是某一天，不是月份：应为 2020-03 这样的月份（日期只接受每月 1 日）",
                          f"{quote_cell(text)} is a day, not a month: expected a month such as 2020-03 "
                      f"(a date is accepted only as the 1st of the month)")
    if non_ascii_digits(s):
        return None, foreign_digits_reason(text, "the month")
    return None, join(f"{quote_cell(text)} 不是月份（应为 {_PERIOD_FORMS_ZH}）",
                      f"{quote_cell(text)} is not a month (expected {_PERIOD_FORMS})")


def period_values(arr: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray | None]:
    """Statistical period (month) -> 'YYYY-MM' text (dtype str)."""
    results, errors, codes = per_unique(arr, parse_period_text)
    return str_series(take_str(results, codes)), errors


_YEAR = re.compile(r"^(\d{4})(?:\.0*)?\s*(?:年度?)?$", re.ASCII)


def parse_year_text(text: str) -> tuple[int | None, str | None]:
    s = unicodedata.normalize("NFKC", text).strip()
    m = _YEAR.match(s)
    if m:
        year = int(m.group(1))
        if 1900 <= year <= 2099:
            return year, None
        return None, join(f"{quote_cell(text)} 不是合理的年份（应在 1900-2099 之间）",
                          f"{quote_cell(text)} is not a plausible year (expected 1900-2099)")
    return None, join(f"{quote_cell(text)} 不是年份（应为 2021 或 2021年 这样的四位数字）",
                      f"{quote_cell(text)} is not a year (expected four digits such as 2021 or 2021年)")


def year_values(arr: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray | None]:
    """Year: '2021', '2021年', '2021年度', 2021.0 -> Int64."""
    results, errors, codes = per_unique(arr, parse_year_text)
    vals = np.array([r if r is not None else 0 for r in results], dtype=np.int64)[codes]
    mask = np.array([r is None for r in results], dtype=bool)[codes]
    return pd.Series(pd.arrays.IntegerArray(vals, mask)), errors


# ----------------------------------------------------------------------------------------------------
# Codes, enumerations, booleans, text

_CODE = re.compile(r"^(\d{6})(?:\.0*)?$", re.ASCII)


def parse_code_text(text: str) -> tuple[str | None, str | None]:
    s = unicodedata.normalize("NFKC", text).strip()
    m = _CODE.match(s)
    if m:
        return m.group(1), None
    return None, join(f"{quote_cell(text)} 不是 6 位代码（例如 330402）",
                      f"{quote_cell(text)} is not a 6-digit code (expected, for example, 330402)")


def code_values(arr: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray | None]:
    """6-digit unit codes, kept as text; 330402.0 (a number from Excel) -> '330402'."""
    results, errors, codes = per_unique(arr, parse_code_text)
    return str_series(take_str(results, codes)), errors


@cache
def _enum_index(enum: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for code, words in template.ENUMS[enum].items():
        for word in (*words, code):
            index.setdefault(fold_header(word), code)
    return index


def enum_code(enum: str, text: str) -> str | None:
    """The canonical code of one spelling, or None if it is not an accepted spelling."""
    return _enum_index(enum).get(fold_header(text))


def enum_values(arr: pa.ChunkedArray, enum: str) -> tuple[pd.Series, np.ndarray | None]:
    """Map any accepted spelling (after `fold_header`) to its canonical code; a missing word is NA unless
    it is itself a spelling (green_star '无' -> 'none'); an unknown value is kept as its stripped text
    with no error (the submission checks name it)."""
    index_map = _enum_index(enum)
    codes, uniques = pd.factorize(pd.Series(arr, dtype=STR_DTYPE), use_na_sentinel=True)
    results: list[str | None] = []
    for u in uniques:
        u = strip_format(u)
        code = index_map.get(fold_header(u))
        if code is None and is_missing_word(u):
            code = None
        elif code is None:
            code = u
        results.append(code)
    results.append(None)
    codes = np.where(codes < 0, len(uniques), codes)
    return str_series(take_str(results, codes)), None


_TRUE = frozenset(fold_header(w) for w in template.TRUE_WORDS)
_FALSE = frozenset(fold_header(w) for w in template.FALSE_WORDS)
_BOOL_FORMS = "/".join(template.TRUE_WORDS[:1] + template.FALSE_WORDS[:1]) + ", Y/N, yes/no, true/false or 1/0"


def parse_bool_text(text: str) -> tuple[bool | None, str | None]:
    key = fold_header(text)
    if key in _TRUE:
        return True, None
    if key in _FALSE:
        return False, None
    return None, join(f"{quote_cell(text)} 不是“是/否”值（应为 {_BOOL_FORMS}）",
                      f"{quote_cell(text)} is not a yes/no value (expected {_BOOL_FORMS})")


def bool_values(arr: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray | None]:
    """Yes/no: template.TRUE_WORDS / FALSE_WORDS after folding (是/否, Y/N, yes/no, true/false, 1/0;
    'TRUE'/'FALSE' cells from XLSX) -> dtype boolean."""
    results, errors, codes = per_unique(arr, parse_bool_text)
    vals = np.array([bool(r) for r in results], dtype=bool)[codes]
    mask = np.array([r is None for r in results], dtype=bool)[codes]
    return pd.Series(pd.arrays.BooleanArray(vals, mask)), errors


def text_values(arr: pa.ChunkedArray, missing_words: bool = True) -> tuple[pd.Series, np.ndarray | None]:
    """Text: stripped; empty -> NA, and missing words ('—', '-', '/', '无', ...) -> NA unless
    `missing_words` is False. Text that looks like a formula ('=...', '+...', '-...', '@...') is kept
    unchanged (it is only text here; whoever exports it to a spreadsheet must escape it)."""
    t = trim(arr)
    mask = missing_mask(t) if missing_words else numpy_bools(pc.fill_null(pc.equal(t, ""), True))
    if mask.any():
        t = pc.if_else(pa.chunked_array([pa.array(mask)]), pa.scalar(None, pa.string()), t)
    return str_series(t), None


# ----------------------------------------------------------------------------------------------------
# By field


def normalise_cells(f: Field, cells: pa.ChunkedArray, unit_factor: float | None = None
                    ) -> tuple[pd.Series, np.ndarray | None]:
    """Dispatch on the template field's type (`unit_factor` applies to area fields): arrow text in; values
    on a RangeIndex and the errors as an object array, or None when no cell has an error (cheap to test on
    a million rows)."""
    core, args = _core_of(f, unit_factor)
    if f.type in ("area", "number", "percent"):
        return core(cells, *args)  # parse_numbers cleans the cells where its fast path does not apply
    cells, long_errors = clean_cells(cells)
    values, errors = core(cells, *args)
    return values, merge_errors(long_errors, errors)


def _core_of(f: Field, unit_factor: float | None) -> tuple[Core, tuple[Any, ...]]:
    if f.type == "area":
        return area_values, (unit_factor,)
    if f.type == "number":
        return number_values, (False,)
    if f.type == "percent":
        return number_values, (True,)
    if f.type == "enum":
        assert f.enum is not None
        return enum_values, (f.enum,)
    cores: dict[str, Core] = {"date": date_values, "period": period_values, "year": year_values,
                              "code": code_values, "bool": bool_values, "text": text_values}
    if f.type not in cores:
        raise ValueError(f"unknown field type {f.type!r} for {f.name}")
    return cores[f.type], ()


def empty_column(f: Field, n: int = 0) -> pd.Series:
    """An all-missing column of the dtype `normalise_cells` gives for `f`."""
    if f.type in ("area", "number", "percent"):
        return pd.Series(pd.arrays.FloatingArray(np.zeros(n), np.ones(n, dtype=bool)))
    if f.type == "date":
        return pd.Series(pd.arrays.ArrowExtensionArray(pa.nulls(n, pa.date32())))
    if f.type == "year":
        return pd.Series(pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)))
    if f.type == "bool":
        return pd.Series(pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool)))
    return pd.Series(pa.nulls(n, pa.string()), dtype=STR_DTYPE)
