"""A published bulletin figure, reproduced end to end: Shanxi Province, 2021, new-start prefabricated
floor area 776.53万 m², 23.26 % of all new-start floor area.

County submissions consistent with those two figures are written by hand (one county per city, all
11 cities, three months each, areas with awkward cents), run through the stages, dbt, the gate and the
publication, and the published `reporting` figures are compared with sums computed independently here
in Decimal arithmetic: for the province and for every city, and the cities add up to the province."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from foundation.template import fields
from publishing.build import build
from publishing.gate import run_gate
from publishing.publish import publish
from tests.helpers.bulletin import figures, html_text, pdf_text
from tests.helpers.e2e import pct
from tests.helpers.landing import land, run

pytestmark = pytest.mark.slow

PROVINCE = "140000"
# One current county-level unit of each of Shanxi's 11 cities (dbt_project/seeds/reporting_units.csv).
COUNTY_OF_CITY = {
    "140100": "140105",  # 太原市 小店区
    "140200": "140212",  # 大同市 新荣区
    "140300": "140302",  # 阳泉市 城区
    "140400": "140403",  # 长治市 潞州区
    "140500": "140502",  # 晋城市 城区
    "140600": "140602",  # 朔州市 朔城区
    "140700": "140702",  # 晋中市 榆次区
    "140800": "140802",  # 运城市 盐湖区
    "140900": "140902",  # 忻州市 忻府区
    "141000": "141002",  # 临汾市 尧都区
    "141100": "141102",  # 吕梁市 离石区
}
CENTS = Decimal("0.01")
PUBLISHED_PREFAB = Decimal("7765300.00")  # 776.53万 m²
PUBLISHED_SHARE = Decimal("23.26")
TOTAL_NEW = Decimal("33384781.37")  # all new-start floor area; 7765300 / 33384781.37 = 23.2600...%
PREFAB_PER_FILE, CAST_PER_FILE, MONTHS_PER_CITY = 6, 8, 3

COLUMNS = ("unit_code", "period", "project_code", "project_name", "building_no", "start_date", "building_use",
           "structure_system", "total_floor_area_m2", "prefab_floor_area_m2", "score_q1", "score_q2", "score_q3",
           "full_decoration")
ZH = {f.name: f.zh for f in fields("buildings")}
HEADER = ",".join(ZH[c] for c in COLUMNS) + "\n"


@dataclass(frozen=True)
class Building:
    unit_code: str
    city_code: str
    month: int
    no: int
    start_day: int
    use: str  # 居住建筑 | 公共建筑
    structure: str  # 装配式混凝土 | 钢结构 | 现浇
    total: Decimal
    prefab: Decimal

    def csv_row(self) -> str:
        period = f"2021-{self.month:02d}"
        project = f"SX{self.unit_code}-{self.month:02d}-{self.no:02d}"
        prefab = self.structure != "现浇"
        scores = (f"{25 + self.no % 10},{12 + self.no % 5},{15 + self.no % 8}" if prefab else ",,")
        values = (self.unit_code, period, project, f"晋{self.unit_code}项目{self.month}-{self.no}", "1#",
                  f"{period}-{self.start_day:02d}", self.use, self.structure, f"{self.total:.2f}",
                  f"{self.prefab:.2f}", scores, "是" if prefab else "否")
        return ",".join(values) + "\n"


def split(total: Decimal, weights: list[int]) -> list[Decimal]:
    """`total` (to the cent) split in proportion to `weights`, floored to the cent; the last part takes the
    remainder, so the parts add up exactly."""
    cents = int(total * 100)
    w = sum(weights)
    parts = [cents * x // w for x in weights[:-1]]
    parts.append(cents - sum(parts))
    assert all(p > 0 for p in parts)
    return [Decimal(p) / 100 for p in parts]


def shanxi_buildings() -> list[Building]:
    rnd = random.Random(20211231)
    slots = []  # (city, county, month, no, is_prefab)
    for i, (city, county) in enumerate(COUNTY_OF_CITY.items()):
        months = sorted({(i + 4 * k) % 12 + 1 for k in range(MONTHS_PER_CITY)})  # all 12 months covered
        for month in months:
            for no in range(PREFAB_PER_FILE + CAST_PER_FILE):
                slots.append((city, county, month, no + 1, no < PREFAB_PER_FILE))
    prefab_slots = [s for s in slots if s[4]]
    cast_slots = [s for s in slots if not s[4]]
    prefab_areas = split(PUBLISHED_PREFAB, [rnd.randint(600_000, 1_400_000) for _ in prefab_slots])
    # a prefab building's total floor area: its prefab area plus 0-35 % more (some exactly equal)
    prefab_totals = [a if k % 7 == 0 else a + (a * rnd.randint(1, 35_000) / 100_000).quantize(CENTS)
                     for k, a in enumerate(prefab_areas)]
    cast_totals = split(TOTAL_NEW - sum(prefab_totals), [rnd.randint(600_000, 1_400_000) for _ in cast_slots])
    out = []
    for slot, prefab, total in zip(prefab_slots, prefab_areas, prefab_totals, strict=True):
        out.append((slot, prefab, total))
    for slot, total in zip(cast_slots, cast_totals, strict=True):
        out.append((slot, Decimal("0.00"), total))
    buildings = []
    for (city, county, month, no, is_prefab), prefab, total in out:
        days_in_month = (date(2021 + month // 12, month % 12 + 1, 1) - date(2021, month, 1)).days
        buildings.append(Building(
            unit_code=county, city_code=city, month=month, no=no, start_day=rnd.randint(1, days_in_month),
            use=rnd.choice(("居住建筑", "公共建筑")),
            structure=rnd.choice(("装配式混凝土", "钢结构")) if is_prefab else "现浇",
            total=total, prefab=prefab))
    return buildings


def fetch(path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_shanxi_2021_bulletin_figures(data_env):
    s = data_env
    buildings = shanxi_buildings()

    # the construction itself reproduces the bulletin, in exact arithmetic
    assert sum(b.prefab for b in buildings) == PUBLISHED_PREFAB
    assert sum(b.total for b in buildings) == TOTAL_NEW
    assert pct(PUBLISHED_PREFAB, TOTAL_NEW) == PUBLISHED_SHARE
    assert {b.city_code for b in buildings} == set(COUNTY_OF_CITY)
    assert all(b.prefab <= b.total and b.prefab == b.prefab.quantize(CENTS) for b in buildings)
    # float summation of these areas is not exact: the pipeline has to sum exactly
    assert sum(float(b.prefab) for b in buildings) != float(PUBLISHED_PREFAB) or \
        sum(float(b.total) for b in buildings) != float(TOTAL_NEW)

    files: dict[str, list[Building]] = {}
    for b in buildings:
        files.setdefault(f"{b.unit_code}_2021-{b.month:02d}.csv", []).append(b)
    for k, (name, rows) in enumerate(sorted(files.items())):
        land(s, name, HEADER + "".join(b.csv_row() for b in rows), 1_640_000_000 + k)

    stages = run(s, "shanxi-2021")
    assert stages["load"]["rows_quarantined"] == 0, stages
    assert stages["load"]["rows_loaded"] == len(buildings), stages
    result = build(s)
    gate = run_gate(s, "shanxi-2021", result)
    assert gate.passed, [c.detail for c in gate.blocking]
    assert publish(s, "shanxi-2021", checks_passed=len(gate.checks), checks_warned=0).published

    rows = fetch(s.reporting_path,
                 "select unit_code, ytd_building_count, ytd_new_floor_area_m2, ytd_prefab_floor_area_m2, "
                 "ytd_prefab_share_pct, ytd_res_pub_prefab_floor_area_m2 from fct_indicators_daily "
                 "where as_of_date = date '2021-12-31' and (unit_code = ? or unit_code in "
                 "(select unit_code from dim_reporting_unit where parent_code = ? and unit_level = 'city'))",
                 [PROVINCE, PROVINCE])
    got = {r[0]: r[1:] for r in rows}
    assert set(got) == {PROVINCE, *COUNTY_OF_CITY}

    # the province, to the published precision
    count, new, prefab, share, res_pub = got[PROVINCE]
    assert count == len(buildings)
    assert prefab == PUBLISHED_PREFAB
    assert (prefab / 10000).quantize(CENTS, rounding=ROUND_HALF_UP) == Decimal("776.53")
    assert share == PUBLISHED_SHARE
    assert new == TOTAL_NEW
    assert res_pub == PUBLISHED_PREFAB  # all residential or public, no venues

    # every city: its own buildings, summed independently; the cities add up to the province
    for city in COUNTY_OF_CITY:
        mine = [b for b in buildings if b.city_code == city]
        exp_total = sum((b.total for b in mine), Decimal("0"))
        exp_prefab = sum((b.prefab for b in mine), Decimal("0"))
        count, new, prefab, share, res_pub = got[city]
        assert (count, new, prefab, res_pub) == (len(mine), exp_total, exp_prefab, exp_prefab), city
        assert share == pct(exp_prefab, exp_total), city
    assert sum(got[c][2] for c in COUNTY_OF_CITY) == got[PROVINCE][2]
    assert sum(got[c][1] for c in COUNTY_OF_CITY) == got[PROVINCE][1]

    # the monthly table agrees, for the province and every city
    monthly = dict(fetch(s.reporting_path,
                         "select unit_code, sum(prefab_floor_area_m2) from fct_prefab_floor_area_monthly "
                         "where month between date '2021-01-01' and date '2021-12-01' group by unit_code"))
    assert monthly[PROVINCE] == PUBLISHED_PREFAB
    for city in COUNTY_OF_CITY:
        assert monthly[city] == got[city][2], city
    by_month = dict(fetch(s.reporting_path,
                          "select month, sum(total_floor_area_m2) from fct_prefab_floor_area_monthly "
                          "where unit_code = ? group by month", [PROVINCE]))
    for month in range(1, 13):
        expected = sum((b.total for b in buildings if b.month == month), Decimal("0"))
        assert by_month.get(date(2021, month, 1), Decimal("0")) == expected, month

    # the province's bulletin as of 2021-12-31 prints them: 776.53 is the new-start prefabricated floor area
    # (万平方米), 23.26 its share (%) of all new-start floor area; in the HTML's text and in the PDF's
    if not Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").exists():
        pytest.skip("the bulletin needs fonts-noto-cjk and pango: run `make bulletin-deps` as root")
    from bulletin.render import write

    made = write(s, PROVINCE, date(2021, 12, 31))
    for text in (html_text(made.folder / "bulletin.html"), pdf_text(made.folder / "bulletin.pdf")):
        assert "截至12月31日，全省累计完成新开工装配式建筑776.53万平方米" in text
        assert "新开工装配式建筑占新开工建筑面积（3338.48万平方米）的比例为23.26%" in text
        got = figures(text)
        assert (got["prefab"], got["share"], got["new"]) == (Decimal("776.53"), PUBLISHED_SHARE, Decimal("3338.48"))
        assert got["res_pub"] == Decimal("776.53") and got["yoy"] is None  # no 2020 data: said in words
        assert got["units_reported"] == len(COUNTY_OF_CITY)
