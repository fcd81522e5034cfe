"""The bulletin's charts, drawn offline: Altair builds Vega-Lite specs, vl-convert renders them to SVG and PNG
with Vega's own engine (no browser, no CDN, no network), deterministically (same data, same bytes).

Each chart's figures are also written as a CSV beside it (the values it draws, as the text prints them), and
its bars carry their values as labels, so the figures can be checked against the published tables.
"""

from __future__ import annotations

from decimal import Decimal

import altair as alt
import vl_convert as vlc

from bulletin.data import BulletinData
from bulletin.text import sections, wan

FONT = "Noto Sans CJK SC"  # Debian fonts-noto-cjk (`make system-deps`)
WIDTH = 560


def _config(chart: alt.Chart) -> alt.Chart:
    return (chart.properties(width=WIDTH, height=220)
            .configure(font=FONT, background="white")
            .configure_view(stroke=None)
            .configure_axis(labelFont=FONT, titleFont=FONT)
            .configure_legend(labelFont=FONT, titleFont=FONT, orient="top"))


def monthly_rows(d: BulletinData) -> list[dict]:
    """Month by month, this year's and last year's new-start prefab floor area (万平方米)."""
    rows = []
    for year in (d.as_of.year - 1, d.as_of.year):
        for month in range(1, d.as_of.month + 1):
            rows.append({"year": f"{year}年", "month": f"{month}月", "month_no": month,
                         "area_wan": wan(d.monthly.get(year, {}).get(month, 0))})
    return rows


def completion_rows(d: BulletinData) -> list[dict]:
    """Task completion (%) of the units below that have a task, ranked as the text ranks them."""
    return [{"unit": c.name, "completion_pct": c.completion, "met": "已完成" if c.met else "未完成"}
            for c in sections(d).children if c.completion is not None]


def structure_rows(d: BulletinData) -> list[dict]:
    total = sum(area for _, area in d.structure_mix)
    return [{"structure": d.label("structure_system", code), "area_wan": wan(area),
             "share_pct": str((area * 100 / total).quantize(Decimal("0.01"))) if total else None}
            for code, area in d.structure_mix]


def _numeric(rows: list[dict], *fields: str) -> list[dict]:
    return [{k: (float(v) if k in fields and v is not None else v) for k, v in r.items()} for r in rows]


def monthly_chart(d: BulletinData) -> alt.Chart:
    data = alt.Data(values=_numeric(monthly_rows(d), "area_wan"))
    months = [f"{m}月" for m in range(1, d.as_of.month + 1)]
    base = alt.Chart(data).encode(
        x=alt.X("month:N", sort=months, title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("year:N"),
        color=alt.Color("year:N", title=None, scale=alt.Scale(range=["#9bb4d1", "#1d3557"])))
    bars = base.mark_bar().encode(y=alt.Y("area_wan:Q", title="万平方米"))
    labels = base.mark_text(dy=-4, fontSize=8, angle=0).encode(y="area_wan:Q", text=alt.Text("area_wan:Q",
                                                                                            format=".2f"))
    return _config((bars + labels).properties(title=f"逐月新开工装配式建筑面积（{d.as_of.year}年与上年同期）"))


def completion_chart(d: BulletinData) -> alt.Chart | None:
    rows = completion_rows(d)
    if not rows:
        return None
    order = [r["unit"] for r in rows]
    base = alt.Chart(alt.Data(values=_numeric(rows, "completion_pct"))).encode(
        y=alt.Y("unit:N", sort=order, title=None), x=alt.X("completion_pct:Q", title="年度任务完成率（%）"))
    bars = base.mark_bar().encode(color=alt.Color("met:N", title=None, scale=alt.Scale(
        domain=["已完成", "未完成"], range=["#1b7a36", "#e07a1f"])))
    labels = base.mark_text(align="left", dx=3, fontSize=9).encode(text=alt.Text("completion_pct:Q", format=".2f"))
    rule = alt.Chart(alt.Data(values=[{"x": 100}])).mark_rule(strokeDash=[4, 3], color="#555").encode(x="x:Q")
    chart = (bars + labels + rule).properties(title="年度任务完成率（按完成率排序）", width=WIDTH,
                                              height=max(120, 18 * len(rows)))
    return (chart.configure(font=FONT, background="white").configure_view(stroke=None)
            .configure_legend(labelFont=FONT, orient="top"))


def structure_chart(d: BulletinData) -> alt.Chart | None:
    rows = structure_rows(d)
    if not rows:
        return None
    order = [r["structure"] for r in rows]
    base = alt.Chart(alt.Data(values=_numeric(rows, "area_wan", "share_pct"))).encode(
        y=alt.Y("structure:N", sort=order, title=None), x=alt.X("area_wan:Q", title="万平方米"))
    bars = base.mark_bar(color="#1d3557")
    labels = base.mark_text(align="left", dx=3, fontSize=9).encode(text=alt.Text("area_wan:Q", format=".2f"))
    return _config((bars + labels).properties(title="本年新开工装配式建筑面积按结构体系")).properties(
        height=max(80, 26 * len(rows)))


def charts(d: BulletinData) -> dict[str, tuple[alt.Chart, list[dict]]]:
    """name -> (chart, the rows it draws), for the charts this unit has data for."""
    out = {"monthly": (monthly_chart(d), monthly_rows(d))}
    if (c := completion_chart(d)) is not None:
        out["completion"] = (c, completion_rows(d))
    if (c := structure_chart(d)) is not None:
        out["structure"] = (c, structure_rows(d))
    return out


def images(chart: alt.Chart) -> tuple[str, bytes]:
    """The chart as SVG, and as PNG at twice its size. The PNG is rasterised from the SVG: the same bytes as
    vl-convert's `vegalite_to_png` of the spec, which renders the SVG again first (checked on the three charts,
    vl-convert 1.9.0), in about a third of its time (0.09-0.16 s against 0.25-0.39 s a chart)."""
    svg = vlc.vegalite_to_svg(chart.to_dict(), allowed_base_urls=[])
    return svg, vlc.svg_to_png(svg, scale=2)
