"""Values of the sample landing zone: buildings, annual targets and production bases as records of canonical
values (enum codes, areas as exact 2-decimal `Decimal` m², `date`s). Turning them into files is `render`'s job.

Every random choice comes from a `random.Random` seeded with a string naming the seed and what is drawn
(`"42:buildings:330402:2020-03"`), so a unit-month's rows do not depend on which other units are generated.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from foundation.template import DEFAULT_EVALUATION_STANDARD
from foundation.units import Unit

from .units import short_name

ONE_DECIMAL = Decimal("0.1")


def rng_for(seed: int, *parts: object) -> random.Random:
    """A generator of its own for one purpose (str seeds are hashed with SHA-512: stable across runs)."""
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def month_bounds(period: str) -> tuple[date, date]:
    year, month = int(period[:4]), int(period[5:7])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def cents(rng: random.Random, low_m2: int, high_m2: int) -> Decimal:
    """An area in m² with two decimals, exact."""
    return Decimal(rng.randint(low_m2 * 100, high_m2 * 100)).scaleb(-2)


# ---------------------------------------------------------------- GB/T 51129-2017, per building


def assembly_rate(q1: float | None, q2: float | None, q3: float | None, q4: float | None) -> float | None:
    """P = (Q1 + Q2 + Q3) / (100 - Q4) x 100, rounded half-up to one decimal; None without scores."""
    if q1 is None or q2 is None or q3 is None:
        return None
    p = (Decimal(str(q1)) + Decimal(str(q2)) + Decimal(str(q3))) / (100 - Decimal(str(q4 or 0))) * 100
    return float(p.quantize(ONE_DECIMAL, ROUND_HALF_UP))


def is_recognised(q1, q2, q3, q4, full_decoration: bool) -> bool:
    p = assembly_rate(q1, q2, q3, q4)
    return p is not None and q1 >= 20 and q2 >= 10 and full_decoration and p >= 50


def grade(p: float | None, recognised: bool) -> str | None:
    if not recognised or p is None or p < 60:
        return None
    return "A" if p < 76 else "AA" if p < 91 else "AAA"


# ---------------------------------------------------------------- buildings

USE_WEIGHTS = {"residential": 56, "public": 28, "venue": 4, "industrial": 8, "other": 4}
STRUCTURE_WEIGHTS = {"pc_concrete": 55, "steel": 24, "hybrid": 4, "timber": 2, "cast_in_place": 15}
# Shanxi builds mostly cast in place: its 2021 bulletin reports a prefab share of 23.26 %.
STRUCTURE_WEIGHTS_SHANXI = {"pc_concrete": 14, "steel": 9, "hybrid": 2, "timber": 0, "cast_in_place": 75}
GREEN_WEIGHTS = {"none": 25, "basic": 35, "1": 22, "2": 14, "3": 4}
AREA_RANGE_M2 = {"residential": (8000, 32000), "public": (3000, 45000), "venue": (10000, 60000),
                 "industrial": (5000, 40000), "other": (2000, 9000)}
# Target bands of the assembly rate P: (weight, low, high). "weak_q2" fails the Q2 >= 10 rule.
BANDS = {"below_50": (8, 40, 50), "below_60": (10, 50, 60), "A": (38, 60, 76), "AA": (28, 76, 91),
         "AAA": (10, 91, 99), "weak_q2": (6, 45, 70)}
BOUNDARIES = (50, 60, 76, 91)

RES_WORDS = ("锦绣", "翡翠", "阳光", "春风", "金色", "滨湖", "溪岸", "云栖", "悦澜", "和园", "璟园", "观澜",
             "书香", "御景", "紫薇", "桂语", "江南", "湖畔")
RES_SUFFIXES = ("花园", "府", "苑", "家园", "雅苑", "名邸", "公馆", "安置小区", "保障性租赁住房项目")
PUBLIC_NAMES = ("第一实验学校", "人民医院迁建工程", "中医院综合楼", "文化中心", "行政服务中心", "中学新建工程",
                "实验幼儿园", "社区服务中心", "职业技术学校实训楼", "妇幼保健院", "养老服务中心", "图书馆")
VENUE_NAMES = ("体育馆", "全民健身中心", "会展中心", "游泳馆", "体育中心")
INDUSTRIAL_NAMES = ("智能制造产业园标准厂房", "高新区标准厂房", "物流园仓储用房", "新材料产业园厂房")
OTHER_NAMES = ("公交首末站", "垃圾中转站", "配套用房", "变电站附属用房")
BRANDS = ("绿城", "万科", "碧桂园", "保利", "中海", "华润", "龙湖", "滨江", "旭辉", "金地", "城投", "交投", "国投",
          "建投")
DEVELOPER_KINDS = ("置业", "房地产开发", "建设发展", "投资发展")
REMARKS = ("EPC总承包", "保障性住房", "试点示范项目", "BIM应用", "预制率40%")


@dataclass
class Building:
    unit_code: str
    period: str
    project_code: str
    project_name: str
    building_no: str
    permit_no: str | None
    start_date: date
    building_use: str
    structure_system: str
    total_floor_area_m2: Decimal
    prefab_floor_area_m2: Decimal
    score_q1: float | None
    score_q2: float | None
    score_q3: float | None
    score_q4: float | None
    assembly_rate_pct: float | None  # as reported
    evaluation_standard: str | None
    full_decoration: bool
    green_star: str
    developer: str | None
    remarks: str | None
    raw: dict[str, str] = field(default_factory=dict)  # written verbatim instead of the value (bad rows)
    quarantine: tuple[str, ...] = ()  # why a correct pipeline must quarantine this row (bad rows)

    @property
    def computed_rate(self) -> float | None:
        return assembly_rate(self.score_q1, self.score_q2, self.score_q3, self.score_q4)


def _scores(rng: random.Random, band: str) -> tuple[float, float, float, float]:
    """Q1..Q4 (one decimal) whose P falls in the band and at least 0.1 away from a grade boundary."""
    _, low, high = BANDS[band]
    for _ in range(200):
        q4 = 0.0 if rng.random() < 0.85 else float(rng.randint(5, 15))
        s = rng.uniform(low, high) * (100 - q4) / 100
        if band == "weak_q2":
            q2 = round(rng.uniform(3, 9.9), 1)
        else:
            q2 = round(rng.uniform(max(10, s - 80), min(20, s - 20)), 1)
        q1 = round(rng.uniform(max(20, s - q2 - 30), min(50, s - q2)), 1)
        q3 = round(s - q1 - q2, 1)
        if not (0 <= q3 <= 30 and 20 <= q1 <= 50):
            continue
        exact = (q1 + q2 + q3) / (100 - q4) * 100
        if low <= exact < high and all(abs(exact - b) >= 0.1 for b in BOUNDARIES):
            return q1, q2, q3, q4
    return 30.0, 15.0, 20.0, 0.0  # P = 65.0, grade A


def _project_name(rng: random.Random, unit: Unit, use: str) -> str:
    short = short_name(unit)
    if use == "residential":
        return f"{short}{rng.choice(RES_WORDS)}{rng.choice(RES_SUFFIXES)}"
    names = {"public": PUBLIC_NAMES, "venue": VENUE_NAMES, "industrial": INDUSTRIAL_NAMES, "other": OTHER_NAMES}
    phase = rng.choice(("", "", "", "（一期）", "（二期）"))
    return f"{short}{rng.choice(names[use])}{phase}"


def _developer(rng: random.Random, unit: Unit, city: Unit | None, use: str) -> str:
    city_short = short_name(city) if city else short_name(unit)
    if use in ("public", "venue") and rng.random() < 0.6:
        return rng.choice((f"{short_name(unit)}{'区' if unit.unit_name_zh.endswith('区') else ''}教育局",
                           f"{city_short}市城市建设投资集团有限公司", f"{short_name(unit)}交通投资集团有限公司",
                           f"{short_name(unit)}城市发展有限公司"))
    return f"{city_short}{rng.choice(BRANDS)}{rng.choice(DEVELOPER_KINDS)}有限公司"


def _project_code(rng: random.Random, unit: Unit, start: date, use: str, used: set[str]) -> str:
    """National investment project code style: 2020-330402-47-01-123456 (year, area, industry, type, serial)."""
    filed = start.year if rng.random() < 0.6 else start.year - 1
    industry = "70" if use == "residential" and rng.random() < 0.7 else "47"
    kind = rng.choice(("01", "02", "03"))
    serial = rng.randint(100000, 999999)
    while (code := f"{filed}-{unit.unit_code}-{industry}-{kind}-{serial:06d}") in used:
        serial = serial + 1 if serial < 999999 else 100000
    used.add(code)
    return code


def new_project(rng: random.Random, unit: Unit, city: Unit | None, period: str, n_buildings: int,
                used_codes: set[str], *, rate_mismatches: bool = True, first_no: int = 1) -> list[Building]:
    """The buildings of one project that started in the period: same code, name, developer and design."""
    first, last = month_bounds(period)
    use = pick(rng, USE_WEIGHTS)
    structure = pick(rng, STRUCTURE_WEIGHTS_SHANXI if unit.unit_code.startswith("14") else STRUCTURE_WEIGHTS)
    start = first + timedelta(days=rng.randint(0, last.day - 1))
    code = _project_code(rng, unit, start, use, used_codes)
    name = _project_name(rng, unit, use)
    developer = _developer(rng, unit, city, use)
    issued = start - timedelta(days=rng.randint(0, 25))
    permit = f"{unit.unit_code}{issued:%Y%m%d}{rng.randint(1, 30):02d}{rng.randint(1, 3):02d}"  # 18-digit 施工许可证号
    if rng.random() < 0.08:
        permit = None
    green = pick(rng, GREEN_WEIGHTS)
    decoration = rng.random() < (0.75 if use == "residential" else 0.88)
    band = pick(rng, {b: w for b, (w, _, _) in BANDS.items()})
    remark = rng.choice(REMARKS) if rng.random() < 0.12 else None
    standard = DEFAULT_EVALUATION_STANDARD if rng.random() < 0.7 else None
    low, high = AREA_RANGE_M2[use]
    buildings = []
    for i in range(n_buildings):
        day = start if rng.random() < 0.85 else first + timedelta(days=rng.randint(0, last.day - 1))
        total = cents(rng, low, high)
        mismatch = rng.random() < 0.03
        offset = round(rng.uniform(1.5, 8.0), 1) * rng.choice((-1, 1))
        if structure == "cast_in_place":
            prefab, q1, q2, q3, q4, reported = Decimal("0.00"), None, None, None, None, None
        else:
            share = 1.0 if rng.random() < 0.75 else rng.uniform(0.55, 0.98)
            prefab = total if share == 1.0 else Decimal(round(int(total * 100) * share)).scaleb(-2)
            q1, q2, q3, q4 = _scores(rng, band)
            reported = assembly_rate(q1, q2, q3, q4)
            if mismatch and rate_mismatches:
                reported = round(min(100.0, max(0.0, reported + offset)), 1)
        buildings.append(Building(
            unit_code=unit.unit_code, period=period, project_code=code, project_name=name,
            building_no=f"{first_no + i}#", permit_no=permit, start_date=day, building_use=use,
            structure_system=structure, total_floor_area_m2=total, prefab_floor_area_m2=prefab,
            score_q1=q1, score_q2=q2, score_q3=q3, score_q4=q4, assembly_rate_pct=reported,
            evaluation_standard=standard, full_decoration=decoration, green_star=green,
            developer=developer, remarks=remark,
        ))
    return buildings


def buildings_per_month(rng: random.Random, unit: Unit) -> int:
    """How many buildings a unit reports in a month: Jiaxing a bit more than Shanxi, some zero reports."""
    if rng.random() < (0.04 if unit.unit_code.startswith("33") else 0.08):
        return 0
    if unit.unit_code.startswith("33"):
        return rng.randint(5, 15)
    return rng.randint(2, 6) if unit.unit_code.startswith("1401") else rng.randint(1, 3)


def month_buildings(seed: int, unit: Unit, city: Unit | None, period: str, used_codes: set[str],
                    count: int | None = None, *, rate_mismatches: bool = True) -> list[Building]:
    """The buildings a unit reports for one month (`count` fixes the number, except for zero reports)."""
    rng = rng_for(seed, "buildings", unit.unit_code, period)
    n = buildings_per_month(rng, unit)
    if count is not None and n:
        n = count
    buildings: list[Building] = []
    while len(buildings) < n:
        size = min(n - len(buildings), rng.choice((1, 1, 2, 2, 3, 4, 6)))
        buildings += new_project(rng, unit, city, period, size, used_codes, rate_mismatches=rate_mismatches)
    return buildings


# ---------------------------------------------------------------- annual targets


@dataclass
class Target:
    unit_code: str
    year: int
    target_prefab_floor_area_m2: Decimal
    target_res_pub_floor_area_m2: Decimal | None
    target_prefab_share_pct: float | None
    raw: dict[str, str] = field(default_factory=dict)
    quarantine: tuple[str, ...] = ()


def province_targets(seed: int, province: Unit, cities: list[Unit], counties: list[Unit],
                     year: int) -> list[Target]:
    """The province's own target, each city's own target (not the sum of its counties), each county's.
    A unit's 2021 target is its 2020 target grown by 12% (one generator per unit, not per year)."""
    growth = 1 + (year - 2020) * 0.12
    rows = []

    def add(code: str, span_wan: tuple[int, int], share: tuple[int, int]) -> None:
        rng = rng_for(seed, "targets", code)
        thousands = round(rng.randint(span_wan[0] * 10, span_wan[1] * 10) * growth)  # 1,000 m² = 0.1 万m²
        res_pub_pct, has_res_pub = rng.randint(75, 95), rng.random() < 0.85
        res_pub = Decimal(thousands * res_pub_pct // 100 * 1000).quantize(Decimal("0.01")) if has_res_pub else None
        pct = float(rng.randint(*share) + (year - 2020) * 5) if rng.random() < 0.9 else None
        rows.append(Target(code, year, Decimal(thousands * 1000).quantize(Decimal("0.01")), res_pub, pct))

    if province.unit_code == "330000":
        add(province.unit_code, (9000, 11000), (30, 30))
        for city in cities:
            add(city.unit_code, (500, 1400), (25, 35))
        for county in counties:
            add(county.unit_code, (40, 160), (25, 40))
    else:
        add(province.unit_code, (1200, 1800), (15, 15))
        for city in cities:
            add(city.unit_code, (60, 260), (10, 20))
        for county in counties:
            add(county.unit_code, (20, 80) if county.unit_code.startswith("1401") else (3, 40), (8, 20))
    return rows


# ---------------------------------------------------------------- production bases

BASE_TYPE_WEIGHTS = {"pc_concrete": 60, "steel_structure": 24, "double_t_slab": 8, "timber": 3, "other": 5}
BASE_COMPANIES = ("宝业", "中建科技", "远大住工", "杭萧钢构", "精工钢构", "三一筑工", "华汇", "宏润", "东南网架",
                  "鸿路钢构", "中天", "建工", "晋建", "二建")
BASE_WORDS = {"pc_concrete": "PC构件", "steel_structure": "钢结构", "double_t_slab": "双T板", "timber": "木结构",
              "other": "部品部件"}
CAPACITY = {"pc_concrete": ("m3/yr", 5, 30), "steel_structure": ("t/yr", 2, 20),
            "double_t_slab": ("m2/yr", 10, 50), "timber": ("m3/yr", 1, 5), "other": ("m2/yr", 5, 20)}


@dataclass
class Base:
    unit_code: str
    base_name: str
    base_type: str
    design_capacity: int | None
    capacity_unit: str | None
    commissioned_on: date | None
    status: str
    raw: dict[str, str] = field(default_factory=dict)
    quarantine: tuple[str, ...] = ()


@dataclass
class _RegisteredBase:
    name: str
    base_type: str
    capacity: int | None
    capacity_unit: str | None
    commissioned_on: date
    closed_year: int | None


def reports_bases(seed: int, unit: Unit) -> bool:
    """Which units keep a production base registry (about 40%)."""
    return rng_for(seed, "bases", unit.unit_code).random() < 0.4


def _registry(seed: int, unit: Unit, city: Unit | None) -> list[_RegisteredBase]:
    rng = rng_for(seed, "bases", unit.unit_code, "registry")
    bases, names = [], set()
    for _ in range(rng.randint(0, 4)):
        base_type = pick(rng, BASE_TYPE_WEIGHTS)
        name = f"{short_name(unit)}{rng.choice(BASE_COMPANIES)}{BASE_WORDS[base_type]}生产基地"
        if name in names:
            name = name.replace("生产基地", "二期生产基地")
        names.add(name)
        cap_unit, low, high = CAPACITY[base_type]
        capacity = None if rng.random() < 0.1 else rng.randint(low, high) * 10000
        commissioned = date(rng.randint(2012, 2022), rng.randint(1, 12), rng.randint(1, 28))
        closed = rng.choice((2020, 2021)) if rng.random() < 0.1 and commissioned.year < 2019 else None
        bases.append(_RegisteredBase(name, base_type, capacity, None if capacity is None else cap_unit,
                                     commissioned, closed))
    return bases


def base_snapshot(seed: int, unit: Unit, city: Unit | None, year: int) -> list[Base]:
    """The unit's bases as of the year: built or being built (commissioning next year at the latest)."""
    rows = []
    for b in _registry(seed, unit, city):
        if b.commissioned_on.year > year + 1:
            continue
        if b.commissioned_on.year > year:
            status = "under_construction"
        elif b.closed_year is not None and b.closed_year <= year:
            status = "closed"
        else:
            status = "operating"
        rows.append(Base(unit.unit_code, b.name, b.base_type, b.capacity, b.capacity_unit, b.commissioned_on, status))
    return rows
