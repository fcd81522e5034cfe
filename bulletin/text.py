"""The bulletin's words: every figure of `BulletinData` as a bulletin prints it, in Chinese sentences.

Areas in 万平方米 to two decimals (half up, as bulletins round), percentages to two decimals (the published
tables already hold them rounded so). A figure without a base (no task set, nothing the year before, no floor
area at all) is said in words, never printed as 0 % or a division error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from bulletin.data import BulletinData

CENTS = Decimal("0.01")
SHANGHAI = ZoneInfo("Asia/Shanghai")
LEVEL_ZH = {"province": "全省", "city": "全市", "county": "全县（区）", "zone": "全区"}
CHILD_ZH = {"province": "各市", "city": "各县（市、区）"}
NAMES_LISTED = 12  # units named in a coverage sentence before "等"


def wan(m2) -> str:
    """Square metres as 万平方米 with two decimals: 7765300 -> '776.53'."""
    return str((Decimal(m2) / 10000).quantize(CENTS, rounding=ROUND_HALF_UP))


def pct(p) -> str:
    return str(Decimal(p).quantize(CENTS, rounding=ROUND_HALF_UP))


def capacity(value) -> str:
    v = Decimal(value)
    return f"{v:,.0f}" if v == v.to_integral_value() else f"{v:,.2f}"


def day_zh(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def growth(yoy, what: str = "") -> str:
    """'同比增长28.51%' / '同比下降3.20%' / '与上年同期持平'; without a base, a clause saying so."""
    if yoy is None:
        return f"上年同期无{what}新开工装配式建筑面积，无法计算同比"
    if yoy > 0:
        return f"同比增长{pct(yoy)}%"
    if yoy < 0:
        return f"同比下降{pct(-yoy)}%"
    return "与上年同期持平"


@dataclass
class ChildLine:
    rank: int | None
    name: str
    area: str  # 万平方米
    target: str | None
    completion: str | None  # percent, None: no task
    met: bool


@dataclass
class Sections:
    title: str
    headline: list[str]
    task: list[str]
    children: list[ChildLine]
    children_heading: str
    evaluation: list[str]
    decoration: list[str]
    bases: list[str]
    coverage: list[str]
    source: str


def _names(names: list[str]) -> str:
    shown = "、".join(names[:NAMES_LISTED])
    return shown + (f"等{len(names)}个" if len(names) > NAMES_LISTED else "")


def _headline(d: BulletinData) -> list[str]:
    i, who = d.indicators, LEVEL_ZH.get(d.unit.unit_level, d.unit.unit_name_zh)
    first = (f"截至{d.as_of.month}月{d.as_of.day}日，{who}累计完成新开工装配式建筑{wan(i['ytd_prefab_floor_area_m2'])}"
             f"万平方米，{growth(i['ytd_prefab_yoy_pct'])}；其中新开工装配式住宅和公共建筑（不含场馆建筑）"
             f"{wan(i['ytd_res_pub_prefab_floor_area_m2'])}万平方米，"
             f"{growth(i['ytd_res_pub_prefab_yoy_pct'], '住宅和公共建筑')}。")
    if i["ytd_prefab_share_pct"] is None:
        share = "本年尚无新开工建筑面积，不计算装配式建筑占比。"
    else:
        share = (f"新开工装配式建筑占新开工建筑面积（{wan(i['ytd_new_floor_area_m2'])}万平方米）的比例为"
                 f"{pct(i['ytd_prefab_share_pct'])}%。")
    return [first, share]


def _task(d: BulletinData) -> list[str]:
    i, out = d.indicators, []
    for what, target, done in (("新开工装配式建筑", "annual_target_prefab_floor_area_m2", "target_completion_pct"),
                               ("新开工装配式住宅和公共建筑", "annual_target_res_pub_floor_area_m2",
                                "res_pub_target_completion_pct")):
        if i[target] is None or i[done] is None:
            out.append(f"{d.unit.unit_name_zh}{d.as_of.year}年未下达{what}年度任务，不计算完成率。")
        else:
            met = "，已完成年度任务" if i[done] >= 100 else ""
            out.append(f"{d.unit.unit_name_zh}{d.as_of.year}年{what}年度任务{wan(i[target])}万平方米，"
                       f"完成率{pct(i[done])}%{met}。")
    return out


def _children(d: BulletinData) -> tuple[list[ChildLine], list[str]]:
    """The units below, ranked by task completion; then those without a task, then those without figures."""
    if not d.children:
        return [], []
    ranked = sorted(((u, r) for u, r in d.children if r is not None and r["target_completion_pct"] is not None),
                    key=lambda ur: (-ur[1]["target_completion_pct"], ur[0].unit_code))
    no_task = [(u, r) for u, r in d.children if r is not None and r["target_completion_pct"] is None]
    no_data = [u for u, r in d.children if r is None]
    lines = [ChildLine(k, u.unit_name_zh, wan(r["ytd_prefab_floor_area_m2"]),
                       wan(r["annual_target_prefab_floor_area_m2"]), pct(r["target_completion_pct"]),
                       r["target_completion_pct"] >= 100) for k, (u, r) in enumerate(ranked, 1)]
    lines += [ChildLine(None, u.unit_name_zh, wan(r["ytd_prefab_floor_area_m2"]), None, None, False)
              for u, r in no_task]
    heading = CHILD_ZH.get(d.unit.unit_level, "下级单位")
    met = [c.name for c in lines if c.met]
    out = []
    if ranked:
        ranking = "，".join(f"{c.name}{c.completion}%" for c in lines if c.rank)
        out.append(f"{heading}按任务完成率排序：{ranking}。")
        out.append(f"已完成年度任务的有{_names(met)}。" if met else "尚无单位完成年度任务。")
    if no_task:
        out.append(f"未下达年度任务、不计算完成率的有{_names([u.unit_name_zh for u, _ in no_task])}。")
    if no_data:
        out.append(f"本年尚无已发布数据的有{_names([u.unit_name_zh for u in no_data])}。")
    return lines, out


def _evaluation(d: BulletinData) -> list[str]:
    i = d.indicators
    n = i["ytd_recognised_building_count"] or 0
    if n == 0:
        text = "本年新开工项目中尚无按《装配式建筑评价标准》（GB/T 51129-2017）认定为装配式建筑的单体。"
    else:
        text = (f"本年新开工项目中，按《装配式建筑评价标准》（GB/T 51129-2017）认定为装配式建筑的单体{n}栋，"
                f"其中A级{i['ytd_grade_a_count']}栋、AA级{i['ytd_grade_aa_count']}栋、AAA级{i['ytd_grade_aaa_count']}栋。")
    rate = i["ytd_avg_assembly_rate_pct"]
    text += (f"有装配率的单体按建筑面积加权平均装配率{pct(rate)}%。" if rate is not None
             else "本年无计算装配率的单体，不计算平均装配率。")
    return [text]


def _decoration(d: BulletinData) -> list[str]:
    i = d.indicators
    full, green = i["ytd_full_decoration_share_pct"], i["ytd_green_building_share_pct"]
    return [(f"新开工住宅中全装修面积占比{pct(full)}%；" if full is not None
             else "本年无新开工住宅，不计算全装修占比；")
            + (f"新开工建筑中绿色建筑（基本级及以上）面积占比{pct(green)}%。" if green is not None
               else "本年无新开工建筑面积，不计算绿色建筑占比。")]


def _bases(d: BulletinData) -> list[str]:
    if not d.bases:
        return [f"{d.unit.unit_name_zh}{d.as_of.year}年未报送装配式建筑生产基地。"]
    total = sum(b["base_count"] for b in d.bases)
    out = [f"{d.as_of.year}年{d.unit.unit_name_zh}共有装配式建筑生产基地{total}个。"]
    by_type: dict[str, list[dict]] = {}
    for b in d.bases:
        by_type.setdefault(b["base_type"], []).append(b)
    for base_type, rows in by_type.items():
        parts = [f"{d.label('status', r['status'])}{r['base_count']}个" + (
            f"（设计产能{capacity(r['design_capacity'])}{d.label('capacity_unit', r['capacity_unit'])}）"
            if r["design_capacity"] is not None else "（未填报设计产能）") for r in rows]
        out.append(f"{d.label('base_type', base_type)}：" + "，".join(parts) + "。")
    return out


def _coverage(d: BulletinData) -> list[str]:
    expected = d.submitting
    missing = [u.unit_name_zh for u in expected if u.unit_code not in d.reported]
    if not expected:
        return ["本单位范围内没有填报单位。"]
    text = (f"{d.unit.unit_name_zh}范围内共有填报单位{len(expected)}个，本年已有新开工项目数据的"
            f"{len(expected) - len(missing)}个")
    if missing:
        text += f"；尚无数据（未报送或零报告）的{len(missing)}个：{_names(missing)}。以上数据不含这些单位。"
    else:
        text += "，全部填报单位均有数据。"
    return [text]


def source_line(d: BulletinData) -> str:
    p = d.publication
    published = p.published_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(SHANGHAI)
    return (f"数据来源：第{p.publication_id}次发布（{published:%Y-%m-%d %H:%M} 北京时间发布，数据截至"
            f"{day_zh(p.data_as_of)}，含报送文件{p.submissions_included}份）。")


def sections(d: BulletinData) -> Sections:
    children, children_text = _children(d)
    return Sections(
        title=f"{d.unit.unit_name_zh}装配式建筑发展情况通报（截至{day_zh(d.as_of)}）",
        headline=_headline(d), task=_task(d) + children_text, children=children,
        children_heading=CHILD_ZH.get(d.unit.unit_level, "下级单位"), evaluation=_evaluation(d),
        decoration=_decoration(d), bases=_bases(d), coverage=_coverage(d), source=source_line(d))
