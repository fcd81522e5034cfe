"""The publication gate's checks on the candidate marts, as a steward reads them.

Each check has a name, a meaning (what it guarantees, and why it blocks or only warns), a severity, the
frame it validates (pulled from the candidate marts by `publishing.gate`), the Great Expectations
expectations that enforce it, and an example template filled with a failing row's values for the detail.
Severity `error` blocks publication (a steward may waive it); `warn` is recorded and never blocks.

Why these severities: a value outside what is possible (a share above 100 %, a negative area, prefab area
above the total, a grade that contradicts the assembly rate) can only come from a broken model or broken
data, and publishing it would mislead every reader: `error`. A value that is possible but suspicious (a
month ten times a unit's usual volume, a reported assembly rate that disagrees with the computed one) needs
a steward to look at the submission, while the rest of the data should still go out: `warn`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A unit-month is unusual when its new-start floor area is at least ANOMALY_HIGH times (or at most ANOMALY_LOW
# times) the median of the unit's previous ANOMALY_WINDOW months with data, given at least ANOMALY_MIN_HISTORY
# such months. About ten times is the signature of areas entered in the wrong unit. Calibrated on the realistic
# Shanxi sample (2,597 unit-months, 2020-2021, no mix-ups): none reaches 8x its usual volume, 10 (0.4 %) fall to
# a tenth (a month with one small building), 21 to an eighth; hence asymmetric bounds.
ANOMALY_HIGH = 8.0
ANOMALY_LOW = 0.1
ANOMALY_WINDOW = 12
ANOMALY_MIN_HISTORY = 3

# GB/T 51129-2017 grades by assembly rate P, for recognised buildings only.
GRADE_THRESHOLDS = ((91, "AAA"), (76, "AA"), (60, "A"))

SHARE_MEASURES = ("ytd_prefab_share_pct", "ytd_full_decoration_share_pct", "ytd_green_building_share_pct",
                  "ytd_avg_assembly_rate_pct")
COMPLETION_MEASURES = ("target_completion_pct", "res_pub_target_completion_pct")
YOY_MEASURES = ("ytd_prefab_yoy_pct", "ytd_res_pub_prefab_yoy_pct")
AREA_MEASURES = ("ytd_new_floor_area_m2", "ytd_prefab_floor_area_m2", "ytd_prefab_floor_area_prev_m2",
                 "ytd_res_pub_prefab_floor_area_m2", "ytd_res_pub_prefab_floor_area_prev_m2")
COUNT_MEASURES = ("ytd_building_count", "ytd_recognised_building_count", "ytd_grade_a_count", "ytd_grade_aa_count",
                  "ytd_grade_aaa_count")
INDICATOR_MEASURES = SHARE_MEASURES + COMPLETION_MEASURES + YOY_MEASURES + AREA_MEASURES + COUNT_MEASURES

# Grades as ranks ('-' 0, A 1, AA 2, AAA 3), and the rank GB/T 51129-2017 gives a building from the thresholds
# above (recognised buildings only): what the published grade must equal.
_GRADES = ("-", *(grade for _, grade in reversed(GRADE_THRESHOLDS)))
_GRADE_RANK = "case coalesce(grade, '-') " + " ".join(f"when '{g}' then {i}" for i, g in enumerate(_GRADES)) + " end"
_EXPECTED_RANK = " ".join([
    "case when not coalesce(is_recognised_prefab, false) or assembly_rate_pct is null then 0",
    *(f"when assembly_rate_pct::double >= {threshold} then {_GRADES.index(grade)}"
      for threshold, grade in GRADE_THRESHOLDS),
    "else 0 end"])

# The frames the checks validate, one query each on the candidate marts (schema `marts`). Every frame gets
# a `row_id` column for GX's failing-row index: its position, or the table's own rowid where a frame has
# DETAILS. A frame is kept to numbers where it is large (GX hashes every column of a frame first, and text
# costs seconds per million rows); DETAILS fetches the text a failing row's example shows, for those rows only.
FRAMES: dict[str, str] = {
    "buildings": f"""
        select rowid as row_id, total_floor_area_m2::double as total_floor_area_m2,
            prefab_floor_area_m2::double as prefab_floor_area_m2, assembly_rate_pct::double as assembly_rate_pct,
            assembly_rate_differs, {_GRADE_RANK} as grade_rank, {_EXPECTED_RANK} as expected_grade_rank
        from marts.fct_building""",
    "unit_months": f"""
        with months as (
            select unit_code, month, sum(building_count) as building_count,
                sum(total_floor_area_m2)::double as total_floor_area_m2,
                sum(prefab_floor_area_m2)::double as prefab_floor_area_m2
            from marts.fct_prefab_floor_area_monthly
            group by unit_code, month
        ),
        submitting as (
            select distinct unit_code
            from marts.fct_building
        ),
        history as (
            select m.*, m.unit_code in (select unit_code from submitting) as is_submitting,
                median(m.total_floor_area_m2) over w as usual_m2, count(*) over w as history_months
            from months as m
            window w as (
                partition by m.unit_code order by m.month
                rows between {ANOMALY_WINDOW} preceding and 1 preceding
            )
        )
        select h.unit_code, coalesce(u.unit_name_zh, '') as unit_name_zh, strftime(h.month, '%Y-%m') as month,
            h.building_count, h.total_floor_area_m2, h.prefab_floor_area_m2, h.usual_m2, h.history_months,
            case
                when h.is_submitting and h.history_months >= {ANOMALY_MIN_HISTORY} and h.usual_m2 > 0
                    then h.total_floor_area_m2 / h.usual_m2
            end as ratio_to_usual
        from history as h
        left join marts.dim_reporting_unit as u on u.unit_code = h.unit_code
        order by h.unit_code, h.month""",
    "indicators": "select unit_code, year, " + ", ".join(
        f"min({m})::double as min_{m}, max({m})::double as max_{m}" for m in INDICATOR_MEASURES)
        + " from marts.fct_indicators_daily group by unit_code, year order by unit_code, year",
    "production_bases": """
        select unit_code, year, base_type, status, coalesce(capacity_unit, '-') as capacity_unit, base_count,
            design_capacity::double as design_capacity
        from marts.fct_production_bases
        order by all""",
}

_GRADE_TEXT = "case {} " + " ".join(f"when {i} then '{g}'" for i, g in enumerate(_GRADES)) + " end"
# Per frame with a rowid: a failing row's example columns, for the rowids in `$rows`, in the order a steward
# reads them (the first MAX_EXAMPLES are shown).
DETAILS: dict[str, str] = {
    "buildings": f"""
        select unit_code, project_code, building_no, cast(start_date as varchar) as start_date,
            total_floor_area_m2::double as total_floor_area_m2, prefab_floor_area_m2::double as prefab_floor_area_m2,
            assembly_rate_pct::double as assembly_rate_pct,
            assembly_rate_reported_pct::double as assembly_rate_reported_pct, is_recognised_prefab,
            coalesce(grade, '-') as grade, {_GRADE_TEXT.format(_EXPECTED_RANK)} as expected_grade
        from marts.fct_building
        where rowid in (select unnest($rows))
        order by unit_code, project_code, building_no""",
}


@dataclass(frozen=True)
class GateRule:
    name: str
    meaning: str
    severity: str  # error (blocks publication) | warn (never blocks)
    frame: str  # a key of FRAMES
    example: str  # str.format template over a failing row's values
    build: Callable[[Any, Any], list[Any]]  # (gxe, Column) -> expectations
    meaning_zh: str = ""  # the meaning and the example in Chinese: a detail is stored Chinese first
    example_zh: str = ""  # (foundation.bilingual); "" for a rule written in English only


def _between(column: str, lo: float | None, hi: float | None) -> Callable[[Any, Any], list[Any]]:
    return lambda gxe, C: [gxe.ExpectColumnValuesToBeBetween(column=column, min_value=lo, max_value=hi)]


def _indicator_rule(measure: str, lo: float | None, hi: float | None, severity: str, why: tuple[str, str]
                    ) -> GateRule:
    bounds = f"{lo:g} to {hi:g}" if lo is not None and hi is not None else (
        f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
    bounds_zh = f"在 {lo:g} 到 {hi:g} 之间" if lo is not None and hi is not None else (
        f"不小于 {lo:g}" if lo is not None else f"不大于 {hi:g}")
    def build(gxe, C, m=measure):
        out = []
        if lo is not None:
            out.append(gxe.ExpectColumnValuesToBeBetween(column=f"min_{m}", min_value=lo))
        if hi is not None:
            out.append(gxe.ExpectColumnValuesToBeBetween(column=f"max_{m}", max_value=hi))
        return out
    return GateRule(f"indicators.{measure}_in_range",
                    f"fct_indicators_daily.{measure} is {bounds} on every day; {why[1]}", severity, "indicators",
                    f"{{unit_code}} {{year}}: {measure} from {{min_{measure}}} to {{max_{measure}}}", build,
                    meaning_zh=f"fct_indicators_daily.{measure} 每天都{bounds_zh}；{why[0]}",
                    example_zh=f"{{unit_code}} {{year}} 年：{measure} 从 {{min_{measure}}} 到 {{max_{measure}}}")


def _indicator_rules() -> list[GateRule]:
    impossible = "anything else is impossible and means a broken model or broken data (blocks)"
    impossible_zh = "超出即不可能，说明模型或数据有误（阻止发布）"

    def why(zh: str, en: str) -> tuple[str, str]:
        return f"{zh}；{impossible_zh}", f"{en}; {impossible}"

    return [
        *(_indicator_rule(m, 0, 100, "error",
                          why("占比或比率是 0-100 的百分数", "a share or rate is a 0-100 percentage"))
          for m in SHARE_MEASURES),
        *(_indicator_rule(m, 0, None, "error", why("任务完成率不能为负", "completion of a task cannot be negative"))
          for m in COMPLETION_MEASURES),
        *(_indicator_rule(m, -100, None, "error",
                          why("面积的降幅不能超过 100 %", "floor area cannot fall by more than 100 %"))
          for m in YOY_MEASURES),
        *(_indicator_rule(m, 0, None, "error", why("面积不能为负", "an area cannot be negative"))
          for m in AREA_MEASURES),
        *(_indicator_rule(m, 0, None, "error", why("数量不能为负", "a count cannot be negative"))
          for m in COUNT_MEASURES),
    ]


RULES: list[GateRule] = [
    GateRule("building.areas_non_negative", "fct_building: total and prefab floor areas are not negative; an area "
             "cannot be negative, so this is a broken model or broken data (blocks)", "error", "buildings",
             "{unit_code} {project_code} {building_no}: total {total_floor_area_m2} m², prefab "
             "{prefab_floor_area_m2} m²",
             lambda gxe, C: [gxe.ExpectColumnValuesToBeBetween(column="total_floor_area_m2", min_value=0),
                             gxe.ExpectColumnValuesToBeBetween(column="prefab_floor_area_m2", min_value=0)],
             meaning_zh="fct_building：总建筑面积和装配式建筑面积都不为负；面积不可能为负，出现即说明模型或数据有误（阻止发布）",
             example_zh="{unit_code} {project_code} {building_no}：总建筑面积 {total_floor_area_m2} m²，装配式建筑面积 "
                        "{prefab_floor_area_m2} m²"),
    GateRule("building.prefab_not_above_total", "fct_building: a building's prefab floor area does not exceed its "
             "total floor area; the submission checks quarantine such rows, so one here is a broken model (blocks)",
             "error", "buildings",
             "{unit_code} {project_code} {building_no}: prefab {prefab_floor_area_m2} m² > total "
             "{total_floor_area_m2} m²",
             lambda gxe, C: [gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                 column_A="total_floor_area_m2", column_B="prefab_floor_area_m2", or_equal=True)],
             meaning_zh="fct_building：单体的装配式建筑面积不超过其总建筑面积；报送检查已隔离这类行，这里出现说明模型有误"
                        "（阻止发布）",
             example_zh="{unit_code} {project_code} {building_no}：装配式建筑面积 {prefab_floor_area_m2} m² > "
                        "总建筑面积 {total_floor_area_m2} m²"),
    GateRule("building.assembly_rate_in_range", "fct_building: the computed assembly rate is 0-100 %; anything else "
             "is an error in the GB/T 51129 computation (blocks)", "error", "buildings",
             "{unit_code} {project_code} {building_no}: assembly rate {assembly_rate_pct} %",
             _between("assembly_rate_pct", 0, 100),
             meaning_zh="fct_building：计算的装配率在 0-100 % 之间；超出说明 GB/T 51129 的计算有误（阻止发布）",
             example_zh="{unit_code} {project_code} {building_no}：装配率 {assembly_rate_pct} %"),
    GateRule("building.grade_matches_assembly_rate", "fct_building: the grade follows the computed assembly rate "
             "(recognised buildings: A from 60, AA from 76, AAA from 91 %; none otherwise); a contradiction would "
             "publish wrong grade counts (blocks)", "error", "buildings",
             "{unit_code} {project_code} {building_no}: grade {grade} for assembly rate {assembly_rate_pct} % "
             "(recognised: {is_recognised_prefab}); expected {expected_grade}",
             lambda gxe, C: [gxe.ExpectColumnPairValuesToBeEqual(column_A="grade_rank",
                                                                 column_B="expected_grade_rank")],
             meaning_zh="fct_building：评价等级与计算的装配率一致（认定为装配式建筑的：60 % 起为 A，76 % 起为 AA，"
                        "91 % 起为 AAA；其余无等级）；不一致会发布错误的等级统计（阻止发布）",
             example_zh="{unit_code} {project_code} {building_no}：装配率 {assembly_rate_pct} %"
                        "（认定：{is_recognised_prefab}）时等级为 {grade}，应为 {expected_grade}"),
    GateRule("building.reported_assembly_rate_matches", "fct_building: the assembly rate the county reported is "
             "within one point of the rate computed from its scores; a difference is most often a scoring or typing "
             "error the steward should raise with the county, while the computed rate is what is published (warns)",
             "warn", "buildings",
             "{unit_code} {project_code} {building_no}: reported {assembly_rate_reported_pct} %, computed "
             "{assembly_rate_pct} %",
             lambda gxe, C: [gxe.ExpectColumnValuesToBeInSet(column="assembly_rate_differs", value_set=[False])],
             meaning_zh="fct_building：报送单位填报的装配率与按得分计算的装配率相差不超过 1 个百分点；不一致多半是"
                        "评分或录入错误，数据管理员应向报送单位核实，发布的是计算值（仅警告）",
             example_zh="{unit_code} {project_code} {building_no}：填报 {assembly_rate_reported_pct} %，计算 "
                        "{assembly_rate_pct} %"),
    GateRule("monthly.areas_non_negative", "fct_prefab_floor_area_monthly: per unit and month, floor areas and "
             "building counts are not negative; anything else is a broken model (blocks)", "error", "unit_months",
             "{unit_code} {unit_name_zh} {month}: {building_count} buildings, total {total_floor_area_m2} m², "
             "prefab {prefab_floor_area_m2} m²",
             lambda gxe, C: [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)
                             for c in ("building_count", "total_floor_area_m2", "prefab_floor_area_m2")],
             meaning_zh="fct_prefab_floor_area_monthly：各单位各月的面积和单体数都不为负；否则说明模型有误（阻止发布）",
             example_zh="{unit_code} {unit_name_zh} {month}：{building_count} 个单体，总建筑面积 "
                        "{total_floor_area_m2} m²，装配式建筑面积 {prefab_floor_area_m2} m²"),
    GateRule("monthly.prefab_not_above_total", "fct_prefab_floor_area_monthly: per unit and month, prefab floor area "
             "does not exceed all newly started floor area; anything else is a broken model (blocks)", "error",
             "unit_months",
             "{unit_code} {unit_name_zh} {month}: prefab {prefab_floor_area_m2} m² > total {total_floor_area_m2} m²",
             lambda gxe, C: [gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                 column_A="total_floor_area_m2", column_B="prefab_floor_area_m2", or_equal=True)],
             meaning_zh="fct_prefab_floor_area_monthly：各单位各月的装配式建筑面积不超过全部新开工面积；否则说明模型有误"
                        "（阻止发布）",
             example_zh="{unit_code} {unit_name_zh} {month}：装配式建筑面积 {prefab_floor_area_m2} m² > 总建筑面积 "
                        "{total_floor_area_m2} m²"),
    GateRule("monthly.floor_area_near_usual_volume",
             f"a submitting unit's newly started floor area in a month is less than {ANOMALY_HIGH:g} times, and more "
             f"than {ANOMALY_LOW:g} times, its usual volume (the median of its previous {ANOMALY_WINDOW} months "
             f"with data, once it has {ANOMALY_MIN_HISTORY}); about ten times or a tenth is most often areas typed "
             "in 万m² under an m² header or the reverse: the steward should ask the county (warns; the figures "
             "may be real)", "warn", "unit_months",
             "{unit_code} {unit_name_zh} {month}: {total_floor_area_m2} m², usual {usual_m2} m² "
             "(median of {history_months} previous months), {ratio_to_usual}x",
             lambda gxe, C: [gxe.ExpectColumnValuesToBeBetween(
                 column="ratio_to_usual", min_value=ANOMALY_LOW, max_value=ANOMALY_HIGH,
                 strict_min=True, strict_max=True)],
             meaning_zh=f"报送单位某月的新开工面积小于其常规量的 {ANOMALY_HIGH:g} 倍、大于其 {ANOMALY_LOW:g} 倍"
                        f"（常规量为其此前有数据的 {ANOMALY_WINDOW} 个月的中位数，至少需 {ANOMALY_MIN_HISTORY} 个月）；"
                        "约十倍或十分之一多半是在 m² 表头下填了 万m²（或相反）：数据管理员应向报送单位核实"
                        "（仅警告，数据也可能属实）",
             example_zh="{unit_code} {unit_name_zh} {month}：{total_floor_area_m2} m²，常规量 {usual_m2} m²（此前 "
                        "{history_months} 个月的中位数），为常规量的 {ratio_to_usual} 倍"),
    *_indicator_rules(),
    GateRule("production_bases.non_negative", "fct_production_bases: base counts and design capacities are not "
             "negative; anything else is a broken model or broken data (blocks)", "error", "production_bases",
             "{unit_code} {year} {base_type} {status}: {base_count} bases, capacity {design_capacity} "
             "{capacity_unit}",
             lambda gxe, C: [gxe.ExpectColumnValuesToBeBetween(column="base_count", min_value=0),
                             gxe.ExpectColumnValuesToBeBetween(column="design_capacity", min_value=0)],
             meaning_zh="fct_production_bases：基地数量和设计产能都不为负；否则说明模型或数据有误（阻止发布）",
             example_zh="{unit_code} {year} {base_type} {status}：{base_count} 个基地，设计产能 {design_capacity} "
                        "{capacity_unit}"),
]
