"""Submission file names: `<unit_code>_<YYYY-MM>[_<free text>].<csv|xlsx>` (buildings) or
`<unit_code>_<YYYY>[_<free text>].<csv|xlsx>` (production bases, targets)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from foundation import template
from foundation.bilingual import join
from ingestion.errors import RejectedFile

EXTENSIONS = ("csv", "xlsx")

_SHAPE_PATTERNS = {
    "month": r"^(?P<unit>\d{6})_(?P<year>\d{4})-(?P<month>\d{2})(?:_(?P<free>.+))?$",
    "year": r"^(?P<unit>\d{6})_(?P<year>\d{4})(?:_(?P<free>.+))?$",
}
# The unit code and the period are ASCII digits 0-9 (full-width ones become ASCII by NFKC); `\d` without
# re.ASCII also matches other scripts' digits (Arabic-Indic ٣, Devanagari ३, ...), which NFKC keeps and
# which no code, date or number parser downstream reads as the same digits.
_PATTERNS = {grain: re.compile(p, re.ASCII) for grain, p in _SHAPE_PATTERNS.items()}
_ANY_DIGIT_PATTERNS = {grain: re.compile(p) for grain, p in _SHAPE_PATTERNS.items()}
_SHAPES = {
    "month": "<unit_code>_<YYYY-MM>[_<free text>].csv|xlsx (for example 330402_2020-03.csv)",
    "year": "<unit_code>_<YYYY>[_<free text>].csv|xlsx (for example 330402_2020.xlsx)",
}
_SHAPES_ZH = {
    "month": "“单位代码_年-月[_说明].csv 或 .xlsx”（例如 330402_2020-03.csv）",
    "year": "“单位代码_年份[_说明].csv 或 .xlsx”（例如 330402_2020.xlsx）",
}


@dataclass(frozen=True)
class FileName:
    unit_code: str  # 6 digits
    period: str  # 'YYYY-MM' for buildings, 'YYYY' for production_bases and targets
    free_text: str | None
    extension: str  # 'csv' or 'xlsx', lower case


def _foreign_digits(stem: str) -> str:
    """The digits other than 0-9 in the unit code and period of a name that has the shape of a submission
    name once any script's digits are allowed ('' if it has no such shape, or no such digit)."""
    for grain, pattern in _ANY_DIGIT_PATTERNS.items():
        if m := pattern.match(stem):
            head = stem[: m.end("month" if grain == "month" else "year")]
            return "".join(dict.fromkeys(c for c in head if c.isdigit() and not c.isascii()))
    return ""


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
    shape, shape_zh, form = _SHAPES[grain], _SHAPES_ZH[grain], template.SHEET_NAMES[kind][-1]
    if not dot or ext.lower() not in EXTENSIONS:
        found, found_zh = (f"extension '.{ext}'", f"扩展名为“.{ext}”") if dot else ("no extension", "没有扩展名")
        raise RejectedFile(join(f"文件名“{shown}”{found_zh}：{form}文件须为 .csv 或 .xlsx，按 {shape_zh} 命名",
                                f"file name '{shown}' has {found}: {kind} files must be .csv or .xlsx named {shape}"))
    m = _PATTERNS[grain].match(stem)
    if not m and (foreign := _foreign_digits(stem)):
        raise RejectedFile(join(f"文件名“{shown}”中的单位代码或期间使用了 0-9 以外的数字（'{foreign}'）："
                                f"请用半角数字 0-9，如 {shape_zh}",
                                f"file name '{shown}' writes its unit code or period with digits that are not "
                                f"0-9 ('{foreign}'): use the digits 0-9 (半角数字), as in {shape}"))
    if not m:
        if grain == "year" and _PATTERNS["month"].match(stem):
            raise RejectedFile(join(f"文件名“{shown}”带有月份，但{form}按年报送：应为 {shape_zh}",
                                    f"file name '{shown}' carries a month, but {kind} files are reported per "
                                    f"year: expected {shape}"))
        if grain == "month" and _PATTERNS["year"].match(stem):
            raise RejectedFile(join(f"文件名“{shown}”只有年份没有月份：应为 {shape_zh}",
                                    f"file name '{shown}' carries a year without a month: expected {shape}"))
        raise RejectedFile(join(f"文件名“{shown}”不符合 {shape_zh}", f"file name '{shown}' does not follow {shape}"))
    year = int(m["year"])
    if not 1900 <= year <= 2099:
        raise RejectedFile(join(f"文件名“{shown}”：年份 {m['year']} 不是合理的报送年份（1900-2099）：应为 {shape_zh}",
                                f"file name '{shown}': year {m['year']} is not a plausible reporting year "
                                f"(1900-2099); expected {shape}"))
    period = m["year"]
    if grain == "month":
        month = int(m["month"])
        if not 1 <= month <= 12:
            raise RejectedFile(join(f"文件名“{shown}”：月份 {m['month']} 不在 01-12 之间：应为 {shape_zh}",
                                    f"file name '{shown}': month {m['month']} is not 01-12; expected {shape}"))
        period = f"{m['year']}-{m['month']}"
    free = m["free"]
    return FileName(unit_code=m["unit"], period=period, free_text=free if free else None, extension=ext.lower())


def rows_disagree(kind: str, frame, file_unit: str, file_period: str) -> str | None:
    """Why a file is rejected because its rows and its name disagree, or None.

    "The name carries the unit and the period; the rows must agree with it": when not one row that states
    its unit (or period, or year) states the file name's, the file is for another unit or period than its
    name says and is rejected as a whole. A single stray row among agreeing ones is quarantined instead
    (by the submission checks). `frame` holds the normalised rows, with retired unit codes already mapped
    and, for targets, `unit_in_scope` (the row's unit is the file's or one of its subordinate units).
    """
    def stated(column: str) -> list:
        return [v for v in frame[column].dropna().unique().tolist()] if column in frame else []

    def shown(values: list) -> str:
        values = sorted(str(v) for v in values)
        return ", ".join(values[:3]) + (f" and {len(values) - 3} more" if len(values) > 3 else "")

    def shown_zh(values: list) -> str:
        values = sorted(str(v) for v in values)
        return "、".join(values[:3]) + (f" 等 {len(values)} 个" if len(values) > 3 else "")

    checks: list[tuple[str, str]] = []  # (Chinese, English)
    if kind == "targets":
        years = stated("year")
        if years and int(file_period) not in {int(y) for y in years}:
            checks.append((f"所有行的“年度”都是 {shown_zh(years)}，而文件名中的年份是 {file_period}",
                           f"every row gives 年度 year {shown(years)}, but the file name says {file_period}"))
        units = frame.loc[frame["unit_code"].notna()]
        if len(units) and not units["unit_in_scope"].any():
            codes = stated("unit_code")
            checks.append((f"没有一行属于 {file_unit} 或其下级单位（各行的“单位代码”为 {shown_zh(codes)}），"
                           f"而文件名中的单位是 {file_unit}",
                           f"no row is for {file_unit} or one of its subordinate units (the rows give 单位代码 "
                           f"{shown(codes)}), but the file name says {file_unit}"))
    else:
        units = stated("unit_code")
        if units and file_unit not in units:
            checks.append((f"所有行的“填报单位代码”都是 {shown_zh(units)}，而文件名中的单位是 {file_unit}",
                           f"every row gives 填报单位代码 unit_code {shown(units)}, but the file name says "
                           f"{file_unit}"))
        if kind == "buildings":
            periods = stated("period")
            if periods and file_period not in periods:
                checks.append((f"所有行的“统计期”都是 {shown_zh(periods)}，而文件名中的期间是 {file_period}",
                               f"every row gives 统计期 period {shown(periods)}, but the file name says "
                               f"{file_period}"))
    if not checks:
        return None
    return join("各行与文件名不一致：" + "；".join(zh for zh, _ in checks) + "（请更正文件名或更正各行）",
                "the rows disagree with the file name: " + "; ".join(en for _, en in checks)
                + " (rename the file or correct the rows)")
