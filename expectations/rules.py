"""The row rules of each submission kind, as a steward reads them.

Each rule has a name, a meaning, a severity and the Great Expectations expectation that enforces it (declared
as data: the expectation's class, its arguments and an optional row condition), plus a reason template filled
with the offending row's values. Rules that follow from the template's field
list (required, enumeration, range) are derived from `foundation.template`; the rest are written out.
Severity `error` quarantines the row; `warn` loads it and tells the steward.

`overridable` marks the rules a steward may override: a quarantined row whose every failure is of such a rule
may be accepted and loaded as it is (`steward.decisions`, decision `accept`; loaded by `ingestion.accepted`).
Only a rule where the row's values all read and are typed correctly and the failure is a business judgement is
overridable; a required, enumeration, range or consistency error would put a wrong or missing number in the
figures and stays not overridable (the county must correct it, or the row stays out of the figures).

Context columns added before validation (see `expectations.submission`):
`file_unit_code`, `file_period` (the file name's unit and period), `start_month` ('YYYY-MM' of the start
date), `unit_in_scope` (the row's unit is the file's unit or one of its subordinate units), `unit_known`.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from foundation.template import ENUMS, Field, fields

INDEX_COLUMNS = ["submission_id", "row_number"]


# The row conditions rules use: a rule applies only to the rows where `column <operator> value`.
OPERATORS = {">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class When:
    column: str
    operator: str  # a key of OPERATORS
    value: Any


@dataclass(frozen=True)
class RowRule:
    name: str
    meaning: str
    severity: str  # error | warn
    field: str  # the field a steward should look at first
    reason: str  # str.format template over the row's values
    expectation: str  # the Great Expectations expectation class, e.g. "ExpectColumnValuesToNotBeNull"
    kwargs: dict[str, Any] = field(default_factory=dict)  # its arguments
    when: When | None = None  # its row condition
    # The same meaning and reason in Chinese, the language of the stewards (foundation.bilingual stores both).
    meaning_zh: str = ""
    reason_zh: str = ""
    # Whether a steward may accept a row that fails it and load it as reported (see the module's docstring).
    overridable: bool = False

    def build(self, gxe: Any, column: Any) -> Any:
        """The rule as a GX expectation (`gxe`: great_expectations.expectations; `column`: row_conditions.Column)."""
        kwargs = dict(self.kwargs)
        if self.when is not None:
            kwargs["row_condition"] = OPERATORS[self.when.operator](column(self.when.column), self.when.value)
        return getattr(gxe, self.expectation)(**kwargs)

    def columns(self) -> list[str]:
        """The columns the rule reads (its condition's included)."""
        named = [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]
        named += self.kwargs.get("column_list", [])
        return named + ([self.when.column] if self.when else [])


def _label(f: Field) -> str:
    return f"{f.zh} {f.name}"


def _label_zh(f: Field) -> str:
    return f"“{f.zh}”"


def _bound(x: float) -> str:
    return f"{x:,.0f}" if x >= 1e6 else f"{x:g}"


def _derived(kind: str) -> list[RowRule]:
    # None overridable: a missing required value, an unknown code or a value out of range is a wrong number.
    rules: list[RowRule] = []
    for f in fields(kind):
        label, zh = _label(f), _label_zh(f)
        if f.required:
            rules.append(RowRule(
                f"{f.name}_present", f"{label} is required", "error", f.name,
                f"{label} is missing; it is required",
                "ExpectColumnValuesToNotBeNull", {"column": f.name},
                meaning_zh=f"{zh}必填", reason_zh=f"{zh}未填写：此项必填"))
        if f.type == "enum":
            allowed = list(ENUMS[f.enum])
            words = " / ".join(f"{spellings[0]} {code}" for code, spellings in ENUMS[f.enum].items())
            rules.append(RowRule(
                f"{f.name}_known", f"{label} is one of: {words}", "error", f.name,
                f"{label} is '{{{f.name}}}'; expected one of {words}",
                "ExpectColumnValuesToBeInSet", {"column": f.name, "value_set": allowed},
                meaning_zh=f"{zh}须为以下之一：{words}",
                reason_zh=f"{zh}为“{{{f.name}}}”，应为以下之一：{words}"))
        if f.minimum is not None or f.maximum is not None:
            strict_max = f.name == "score_q4"  # Q4 < 100, or the assembly rate divides by zero
            bounds = f"{_bound(f.minimum)} to {'below ' if strict_max else ''}{_bound(f.maximum)}" \
                if f.maximum is not None else f"at least {_bound(f.minimum)}"
            bounds_zh = f"{_bound(f.minimum)} 至{'小于 ' if strict_max else ' '}{_bound(f.maximum)}" \
                if f.maximum is not None else f"不小于 {_bound(f.minimum)}"
            rules.append(RowRule(
                f"{f.name}_in_range", f"{label} is {bounds}", "error", f.name,
                f"{label} is {{{f.name}}}; expected {bounds}",
                "ExpectColumnValuesToBeBetween",
                {"column": f.name, "min_value": f.minimum, "max_value": f.maximum, "strict_max": strict_max},
                meaning_zh=f"{zh}应为 {bounds_zh}", reason_zh=f"{zh}为 {{{f.name}}}，应为 {bounds_zh}"))
    return rules


def _equal(a: str, b: str) -> tuple[str, dict[str, Any]]:
    """(expectation, arguments): column a equals column b where both are given."""
    return "ExpectColumnPairValuesToBeEqual", {"column_A": a, "column_B": b, "ignore_row_if": "either_value_is_missing"}


def _unique(*columns: str) -> tuple[str, dict[str, Any]]:
    """(expectation, arguments): the columns' values appear once per file."""
    return "ExpectCompoundColumnsToBeUnique", {"column_list": ["submission_id", *columns]}


def _same_unit_and_period(kind: str, period_field: str | None) -> list[RowRule]:
    # Not overridable: a row of another unit or period than its file would be counted in a slice (unit, period)
    # that another file holds, beside or instead of that file's own rows.
    rules = [RowRule(
        "unit_code_matches_file", "填报单位代码 unit_code equals the unit in the file name", "error", "unit_code",
        "填报单位代码 unit_code is {unit_code}; the file name says {file_unit_code}",
        *_equal("unit_code", "file_unit_code"),
        meaning_zh="“填报单位代码”与文件名中的单位一致",
        reason_zh="“填报单位代码”为 {unit_code}，文件名中的单位为 {file_unit_code}")]
    if period_field:
        f = next(f for f in fields(kind) if f.name == period_field)
        label, zh = _label(f), _label_zh(f)
        rules.append(RowRule(
            f"{period_field}_matches_file", f"{label} equals the period in the file name", "error",
            period_field, f"{label} is {{{period_field}}}; the file name says {{file_period}}",
            *_equal(period_field, "file_period"),
            meaning_zh=f"{zh}与文件名中的期间一致",
            reason_zh=f"{zh}为 {{{period_field}}}，文件名中的期间为 {{file_period}}"))
    return rules


def _start_date_plausible() -> RowRule:
    """A start date neither after the run date nor before the floor (`foundation.periods`): the bounds are the
    run's, so the rule is built when the checks run. Not overridable: a future date is wrong, and one before the
    floor falls outside every published period."""
    from foundation.config import settings
    from foundation.periods import floor_date, run_date

    current = settings()
    lo, hi = floor_date(current), run_date(current)
    return RowRule(
        "start_date_plausible", f"开工日期 start_date is from {lo} to the run date", "error", "start_date",
        f"开工日期 start_date is {{start_date}}; expected {lo} to {hi} "
        "(not in the future, not before the earliest accepted period)",
        "ExpectColumnValuesToBeBetween",
        {"column": "start_date", "min_value": datetime.combine(lo, time()),
         "max_value": datetime.combine(hi, time())},
        meaning_zh=f"“开工日期”在 {lo} 至处理日期之间",
        reason_zh=f"“开工日期”为 {{start_date}}，不得早于 {lo}（最早受理期间）或晚于处理日期 {hi}")


def _buildings() -> list[RowRule]:
    scores = [
        RowRule(f"score_q{i}_present_when_prefab", f"{zh} score_q{i} is required when prefab area > 0", "error",
                f"score_q{i}", f"{zh} score_q{i} is missing; it is required when 装配式建筑面积 > 0",
                "ExpectColumnValuesToNotBeNull", {"column": f"score_q{i}"}, When("prefab_floor_area_m2", ">", 0),
                meaning_zh=f"“装配式建筑面积”大于 0 时“{zh}”必填",
                reason_zh=f"“{zh}”未填写：“装配式建筑面积”大于 0 时此项必填")
        for i, zh in ((1, "主体结构得分"), (2, "围护墙和内隔墙得分"), (3, "装修和设备管线得分"))
    ]
    # Not overridable, besides the unit and period rules: a non-positive total area, a prefab area above the
    # total or on a cast-in-place building, or a missing score would put a wrong area or assembly rate in the
    # figures; a building twice in a file would be counted from whichever row happened to be accepted.
    return [
        *_same_unit_and_period("buildings", "period"),
        # Overridable: the date reads, is not in the future nor before the floor (start_date_plausible), and the
        # row's unit and period are the file's; a building reported in a later month's file than the month it
        # started is common late reporting. Accepted, it counts in the month of its start date.
        RowRule("start_date_in_period", "开工日期 start_date falls inside the file's month", "error", "start_date",
                "开工日期 start_date is {start_date}; it must fall in {file_period}",
                *_equal("start_month", "file_period"),
                meaning_zh="“开工日期”在文件所报月份之内",
                reason_zh="“开工日期”为 {start_date}，应在 {file_period} 之内", overridable=True),
        _start_date_plausible(),
        RowRule("total_floor_area_positive", "总建筑面积 total_floor_area_m2 is greater than 0", "error",
                "total_floor_area_m2", "总建筑面积 total_floor_area_m2 is {total_floor_area_m2}; expected > 0",
                "ExpectColumnValuesToBeBetween", {"column": "total_floor_area_m2", "min_value": 0, "strict_min": True},
                meaning_zh="“总建筑面积”大于 0", reason_zh="“总建筑面积”为 {total_floor_area_m2}，应大于 0"),
        RowRule("prefab_not_above_total", "装配式建筑面积 does not exceed 总建筑面积", "error", "prefab_floor_area_m2",
                "装配式建筑面积 prefab_floor_area_m2 {prefab_floor_area_m2} exceeds 总建筑面积 total_floor_area_m2 "
                "{total_floor_area_m2}",
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "total_floor_area_m2", "column_B": "prefab_floor_area_m2", "or_equal": True,
                 "ignore_row_if": "either_value_is_missing"},
                meaning_zh="“装配式建筑面积”不超过“总建筑面积”",
                reason_zh="“装配式建筑面积” {prefab_floor_area_m2} 超过“总建筑面积” {total_floor_area_m2}"),
        RowRule("cast_in_place_has_no_prefab_area", "a 现浇 cast_in_place building has 装配式建筑面积 0", "error",
                "prefab_floor_area_m2",
                "结构体系 is 现浇 cast_in_place but 装配式建筑面积 prefab_floor_area_m2 is {prefab_floor_area_m2}; "
                "expected 0",
                "ExpectColumnValuesToBeInSet", {"column": "prefab_floor_area_m2", "value_set": [0.0]},
                When("structure_system", "==", "cast_in_place"),
                meaning_zh="“结构体系”为现浇的建筑，“装配式建筑面积”为 0",
                reason_zh="“结构体系”为现浇，但“装配式建筑面积”为 {prefab_floor_area_m2}，应为 0"),
        *scores,
        RowRule("building_unique_in_file", "(项目代码, 单体编号) appears once in a file", "error", "building_no",
                "项目代码 {project_code} 单体编号 {building_no} appears more than once in this file",
                *_unique("project_code", "building_no"),
                meaning_zh="同一文件中（项目代码, 单体编号）只出现一次",
                reason_zh="项目代码 {project_code} 单体编号 {building_no} 在本文件中出现了不止一次"),
    ]


def _production_bases() -> list[RowRule]:
    # None overridable: a capacity without its unit is a number without meaning; a base twice in a file would
    # be counted twice.
    return [
        *_same_unit_and_period("production_bases", None),
        RowRule("capacity_unit_given_with_capacity", "产能单位 capacity_unit is given where 设计产能 is", "error",
                "capacity_unit", "设计产能 design_capacity is {design_capacity} but 产能单位 capacity_unit is missing",
                "ExpectColumnValuesToNotBeNull", {"column": "capacity_unit"}, When("design_capacity", ">=", 0),
                meaning_zh="填写了“设计产能”时须填写“产能单位”",
                reason_zh="“设计产能”为 {design_capacity}，但“产能单位”未填写"),
        RowRule("base_unique_in_file", "基地名称 base_name appears once in a file", "error", "base_name",
                "基地名称 {base_name} appears more than once in this file",
                *_unique("base_name"),
                meaning_zh="同一文件中“基地名称”只出现一次",
                reason_zh="基地名称 {base_name} 在本文件中出现了不止一次"),
    ]


def _targets() -> list[RowRule]:
    # None overridable: a target of an unknown unit, of a unit outside the file's, of another year or twice in a
    # file would be set by the wrong file or twice.
    return [
        RowRule("unit_code_known", "单位代码 unit_code is a known reporting unit", "error", "unit_code",
                "单位代码 unit_code {unit_code} is not a known reporting unit",
                "ExpectColumnValuesToBeInSet", {"column": "unit_known", "value_set": [True]},
                meaning_zh="“单位代码”是已登记的报送单位",
                reason_zh="单位代码 {unit_code} 不是已登记的报送单位"),
        RowRule("unit_code_in_scope", "单位代码 unit_code is the file's unit or one of its subordinate units",
                "error", "unit_code",
                "单位代码 unit_code {unit_code} is not {file_unit_code} or one of its subordinate units",
                "ExpectColumnValuesToBeInSet", {"column": "unit_in_scope", "value_set": [True]},
                When("unit_known", "==", True),
                meaning_zh="“单位代码”是本文件的单位或其下级单位",
                reason_zh="单位代码 {unit_code} 既不是 {file_unit_code}，也不是其下级单位"),
        RowRule("year_matches_file", "年度 year equals the year in the file name", "error", "year",
                "年度 year is {year}; the file name says {file_period}",
                *_equal("year_text", "file_period"),
                meaning_zh="“年度”与文件名中的年份一致",
                reason_zh="“年度”为 {year}，文件名中的年份为 {file_period}"),
        RowRule("target_unique_in_file", "a unit has one target row per year in a file", "error", "unit_code",
                "单位代码 {unit_code} has more than one target row for {year} in this file",
                *_unique("unit_code", "year"),
                meaning_zh="同一文件中每个单位每年只有一行目标",
                reason_zh="单位代码 {unit_code} 在本文件中有不止一行 {year} 年的目标"),
    ]


@functools.cache
def overridable(kind: str) -> frozenset[str]:
    """The names of the kind's rules a steward may override (accept a row that fails them). Kept per kind: a rule's
    name and `overridable` are declarations (only the plausible start dates read the settings), and the steward's
    page of a file asks this for every quarantined row."""
    return frozenset(r.name for r in rules(kind) if r.overridable)


def may_override(kind: str, failed: list[str] | None) -> bool:
    """Whether a steward may accept a quarantined row of `kind` that fails the rules named `failed` (None: not
    kept, a row quarantined before they were; a value the reader could not parse is no rule, never overridable)."""
    return bool(failed) and set(failed) <= overridable(kind)


def rules(kind: str) -> list[RowRule]:
    """All row rules of a kind, in the order a steward reads them."""
    explicit = {"buildings": _buildings, "production_bases": _production_bases, "targets": _targets}[kind]()
    return _derived(kind) + explicit
