"""What a bulletin says, read from the published `reporting.duckdb` only (read-only, never the warehouse).

`load(settings, unit_code, as_of)` returns a `BulletinData`: the newest publication (which the bulletin names),
the unit's row of `fct_indicators_daily` on that date, the units directly below it with theirs, the production
bases of the year, the monthly and structure-system figures of `fct_prefab_floor_area_monthly`, the submitting
units in scope and which of them have buildings in the year to date, and the Chinese labels of the codes.

Labels come from the published `dim_<column>` tables when the file has them, else from the dbt project's seeds
(the reference data those tables are built from): today's publication has no label tables.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from foundation.config import Settings
from foundation.db import DUCKDB_CONFIG

# code column -> the seed that labels it (dbt_project/seeds/<seed>.csv: code, name_zh, ...)
LABEL_SEEDS = {"building_use": "building_uses", "structure_system": "structure_systems", "base_type": "base_types",
               "status": "base_statuses", "capacity_unit": "capacity_units"}
INDICATOR_COLUMNS = (
    "ytd_building_count", "ytd_new_floor_area_m2", "ytd_prefab_floor_area_m2", "ytd_prefab_floor_area_prev_m2",
    "ytd_prefab_yoy_pct", "ytd_res_pub_prefab_floor_area_m2", "ytd_res_pub_prefab_floor_area_prev_m2",
    "ytd_res_pub_prefab_yoy_pct", "ytd_prefab_share_pct", "annual_target_prefab_floor_area_m2",
    "target_completion_pct", "annual_target_res_pub_floor_area_m2", "res_pub_target_completion_pct",
    "ytd_recognised_building_count", "ytd_grade_a_count", "ytd_grade_aa_count", "ytd_grade_aaa_count",
    "ytd_full_decoration_share_pct", "ytd_green_building_share_pct", "ytd_avg_assembly_rate_pct",
)
CHILD_LEVELS = {"province": ("city",), "city": ("county", "zone"), "county": (), "zone": ()}
SUBMITTING_LEVELS = ("county", "zone")


class BulletinError(Exception):
    """No bulletin can be made as asked (nothing published, unknown unit, no figures on that date)."""


@dataclass(frozen=True)
class Publication:
    publication_id: int
    run_id: str
    published_at: datetime  # UTC, naive, as published
    data_as_of: date
    submissions_included: int


@dataclass(frozen=True)
class Unit:
    unit_code: str
    unit_name_zh: str
    unit_level: str


@dataclass
class BulletinData:
    publication: Publication
    unit: Unit
    as_of: date
    indicators: dict  # column -> value (Decimal, int or None), INDICATOR_COLUMNS
    children: list[tuple[Unit, dict]]  # the units directly below, each with its indicators (None: no row)
    bases: list[dict]  # base_type, status, capacity_unit, base_count, design_capacity
    monthly: dict[int, dict[int, Decimal]]  # year -> month -> new-start prefab floor area (m²)
    structure_mix: list[tuple[str, Decimal]]  # structure_system code -> YTD prefab floor area, largest first
    submitting: list[Unit]  # the submitting units (counties, zones) in scope
    reported: set[str] = field(default_factory=set)  # those with a building started in the year to date
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> code -> name_zh

    def label(self, column: str, code: str | None) -> str:
        return self.labels.get(column, {}).get(code or "", code or "—")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def latest_publication(con: duckdb.DuckDBPyConnection) -> Publication:
    rows = _rows(con, "select publication_id, run_id, published_at, data_as_of, submissions_included "
                      "from publication order by publication_id desc limit 1")
    if not rows:
        raise BulletinError("发布库中没有发布记录 (the reporting database records no publication)")
    return Publication(**rows[0])


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    if not settings.reporting_path.exists():
        raise BulletinError(f"尚未发布：{settings.reporting_path} 不存在 (nothing published yet: run the nightly "
                            "job, e.g. `make demo`)")
    return duckdb.connect(str(settings.reporting_path), read_only=True, config=DUCKDB_CONFIG)


def _labels(con: duckdb.DuckDBPyConnection, seeds_dir: Path) -> dict[str, dict[str, str]]:
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    out: dict[str, dict[str, str]] = {}
    for column, seed in LABEL_SEEDS.items():
        if f"dim_{column}" in tables:
            out[column] = dict(con.execute(f"select code, name_zh from dim_{column}").fetchall())
            continue
        path = seeds_dir / f"{seed}.csv"
        if path.exists():
            with path.open(encoding="utf-8", newline="") as f:
                out[column] = {r["code"]: r["name_zh"] for r in csv.DictReader(f)}
    return out


def _indicators(con: duckdb.DuckDBPyConnection, codes: list[str], as_of: date) -> dict[str, dict]:
    if not codes:
        return {}
    rows = _rows(con, f"select unit_code, {', '.join(INDICATOR_COLUMNS)} from fct_indicators_daily "
                      "where as_of_date = ? and unit_code in (select unnest(?))", [as_of, codes])
    return {r.pop("unit_code"): r for r in rows}


def _unit(con: duckdb.DuckDBPyConnection, unit_code: str) -> Unit:
    rows = _rows(con, "select unit_code, unit_name_zh, unit_level from dim_reporting_unit "
                      "where unit_code = ? and is_current", [unit_code])
    if not rows:
        raise BulletinError(f"没有代码为 {unit_code} 的现行统计单位 (no current reporting unit {unit_code})")
    return Unit(**rows[0])


def load(settings: Settings, unit_code: str, as_of: date | None = None) -> BulletinData:
    """The figures of `unit_code`'s bulletin as of `as_of` (default: the newest publication's `data_as_of`)."""
    con = connect(settings)
    try:
        publication = latest_publication(con)
        as_of = as_of or publication.data_as_of
        unit = _unit(con, unit_code)
        indicators = _indicators(con, [unit_code], as_of).get(unit_code)
        if indicators is None:
            raise BulletinError(f"{unit.unit_name_zh}（{unit_code}）在 {as_of} 没有已发布的指标 (no published "
                                f"indicators for {unit_code} on {as_of}; the data runs to {publication.data_as_of})")
        children = [Unit(**r) for r in _rows(
            con, "select unit_code, unit_name_zh, unit_level from dim_reporting_unit where parent_code = ? and "
                 "is_current and unit_level in (select unnest(?)) order by unit_code",
            [unit_code, list(CHILD_LEVELS.get(unit.unit_level, ()))])]
        child_rows = _indicators(con, [c.unit_code for c in children], as_of)
        bases = _rows(con, "select base_type, status, capacity_unit, base_count, design_capacity "
                           "from fct_production_bases where unit_code = ? and year = ? "
                           "order by base_type, status, capacity_unit", [unit_code, as_of.year])
        monthly: dict[int, dict[int, Decimal]] = {as_of.year: {}, as_of.year - 1: {}}
        for year, month, area in con.execute(
                "select year(month), month(month), sum(prefab_floor_area_m2) from fct_prefab_floor_area_monthly "
                "where unit_code = ? and year(month) in (?, ?) and month(month) <= ? group by all",
                [unit_code, as_of.year, as_of.year - 1, as_of.month]).fetchall():
            monthly[year][month] = area
        mix = [(code, area) for code, area in con.execute(
            "select structure_system, sum(prefab_floor_area_m2) as area from fct_prefab_floor_area_monthly "
            "where unit_code = ? and month between ? and ? group by all having area > 0 "
            "order by area desc, structure_system", [unit_code, date(as_of.year, 1, 1), as_of]).fetchall()]
        submitting = [Unit(**r) for r in _rows(
            con, "select unit_code, unit_name_zh, unit_level from dim_reporting_unit where is_current and "
                 "unit_level in (select unnest(?)) and (unit_code = ? or city_code = ? or province_code = ?) "
                 "order by unit_code", [list(SUBMITTING_LEVELS), unit_code, unit_code, unit_code])]
        reported = {r[0] for r in con.execute(
            "select distinct unit_code from fct_building where start_date between ? and ?",
            [date(as_of.year, 1, 1), as_of]).fetchall()} & {u.unit_code for u in submitting}
        labels = _labels(con, settings.dbt_project_dir / "seeds")
    finally:
        con.close()
    return BulletinData(publication, unit, as_of, indicators,
                        [(c, child_rows.get(c.unit_code)) for c in children], bases, monthly, mix, submitting,
                        reported, labels)


def bulletin_units(settings: Settings) -> tuple[date, list[str]]:
    """(the newest publication's data_as_of, the provinces and cities with indicators on it): what the
    `prefab_bulletin` DAG writes for each publication."""
    con = connect(settings)
    try:
        as_of = latest_publication(con).data_as_of
        codes = [r[0] for r in con.execute(
            "select i.unit_code from fct_indicators_daily as i inner join dim_reporting_unit as u using (unit_code) "
            "where i.as_of_date = ? and u.is_current and u.unit_level in ('province', 'city') "
            "order by u.unit_level desc, i.unit_code", [as_of]).fetchall()]
    finally:
        con.close()
    return as_of, codes
