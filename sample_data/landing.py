"""`generate()`: plan every file of the sample landing zone, let `bad` spoil a few, write them with fixed
mtimes, and derive the expected ("truth") frames from the same records.

The truth is what a correct pipeline ends up with: rows of loaded files minus quarantined rows; rejected,
superseded and duplicate files contribute nothing; a building reported twice counts once, from the most
recently received file; retired unit codes are replaced by their successors.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from foundation.template import DEFAULT_EVALUATION_STANDARD, field_names

from . import bad as bad_cases
from . import model, render
from .plan import Plan, PlannedFile
from .units import PROVINCES, UnitList, load_units, province_code_of, reports_like_county

CHINA_TZ = timezone(timedelta(hours=8))
KINDS = ("buildings", "targets", "production_bases")


@dataclass(frozen=True)
class GeneratedFile:
    path: str  # relative to the landing folder, e.g. "buildings/330402_2020-03.csv"
    kind: str
    unit_code: str | None
    period: str
    expected_outcome: str  # loaded | rejected | superseded | duplicate
    expected_quarantined_rows: list[int]  # spreadsheet row numbers, 1-based, title line and header counted
    expected_reasons: list[str]  # keywords: file-level reasons, then row-level reasons
    expected_row_reasons: dict[int, list[str]]
    expected_warnings: list[str]
    received_at: datetime  # the file's mtime
    data_rows: int  # rows between the header and any totals/notes rows
    summary_rows: int  # totals and footnote rows
    sha256: str
    case: str | None
    extra: bool

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class GeneratedLandingZone:
    landing: Path
    seed: int
    years: tuple[int, ...]
    unit_codes: list[str]
    files: list[GeneratedFile]
    buildings: pd.DataFrame
    targets: pd.DataFrame
    production_bases: pd.DataFrame

    def file(self, path: str) -> GeneratedFile:
        return next(f for f in self.files if f.path == path)

    def files_with(self, *, kind: str | None = None, outcome: str | None = None) -> list[GeneratedFile]:
        return [f for f in self.files
                if (kind is None or f.kind == kind) and (outcome is None or f.expected_outcome == outcome)]

    def summary(self) -> dict:
        return {
            "files": len(self.files),
            "files_by_kind": {k: len(self.files_with(kind=k)) for k in KINDS},
            "files_by_outcome": {o: len(self.files_with(outcome=o))
                                 for o in ("loaded", "rejected", "superseded", "duplicate")},
            "data_rows": sum(f.data_rows for f in self.files),
            "quarantined_rows": sum(len(f.expected_quarantined_rows) for f in self.files),
            "truth_rows": {"buildings": len(self.buildings), "targets": len(self.targets),
                           "production_bases": len(self.production_bases)},
            "bad_cases": sorted({f.case for f in self.files if f.case}),
        }


def _unit_rank(units: UnitList) -> dict[str, int]:
    return {u.unit_code: i for i, u in enumerate(u for u in units.units if reports_like_county(u))}


def _periods(years: tuple[int, ...], months: tuple[int, ...] | None = None) -> list[str]:
    return [f"{y}-{m:02d}" for y in years for m in (months or range(1, 13))]


def _province_rank(units: UnitList, province_code: str) -> int:
    """Order of the provinces' target files in time: Zhejiang, Shanxi, then the others by code."""
    named = list(PROVINCES.values())
    if province_code in named:
        return named.index(province_code)
    others = sorted(u.unit_code for u in units.units if u.unit_level == "province" and u.unit_code not in named)
    return len(named) + others.index(province_code)


def _at(year: int, month: int, day: int, hour: int, minutes: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CHINA_TZ) + timedelta(minutes=minutes)


def _free_text(rng) -> str:
    """Most names carry no free text; some do."""
    return rng.choice(("_住建局", "_报送", "_月报", "_v1")) if rng.random() < 0.15 else ""


def plan_landing(seed: int, years: tuple[int, ...], units_selector: str, buildings_per_month: int | None,
                 bad: bool, units: UnitList, months: tuple[int, ...] | None = None, kinds: tuple[str, ...] = KINDS
                 ) -> Plan:
    """Every file of the zone; `months` limits the buildings files to those months of each year, `kinds` the
    kinds planned (a unit-month's rows do not depend on which other units, months or kinds are planned)."""
    selected = units.reporting_units(units_selector)
    periods = _periods(years, months)
    rank = _unit_rank(units)
    plan = Plan(seed, units, selected, periods, [], {}, rate_mismatches=bad)
    for unit in selected if "buildings" in kinds else ():
        city = units.city_of(unit.unit_code)
        used = plan.used_codes.setdefault(unit.unit_code, set())
        for period in periods:
            first, _ = model.month_bounds(period)
            if unit.valid_from > first:
                continue
            records = model.month_buildings(seed, unit, city, period, used, buildings_per_month,
                                            rate_mismatches=bad)
            rng = model.rng_for(seed, "style", unit.unit_code, period)
            style = render.building_style(rng, plan.place(unit.unit_code), period, records)
            ext = ".xlsx" if style.fmt == "xlsx" else ".csv"
            nxt = first + timedelta(days=32)
            plan.files.append(PlannedFile(
                "buildings", f"{unit.unit_code}_{period}{_free_text(rng)}{ext}", unit.unit_code, period, records, style,
                _at(nxt.year, nxt.month, 5, 9, 2 * rank[unit.unit_code]),
            ))
    for province_code in sorted({province_code_of(u) for u in selected}) if "targets" in kinds else ():
        province = units[province_code]
        cities = [u for u in units.units if u.parent_code == province_code and u.unit_level == "city" and u.is_current]
        counties = [u for u in selected if province_code_of(u) == province_code]
        for year in years:
            rng = model.rng_for(seed, "style", province_code, year)
            plan.files.append(PlannedFile(
                "targets", f"{province_code}_{year}.csv", province_code, str(year),
                model.province_targets(seed, province, cities, counties, year),
                render.target_style(rng, province.unit_name_zh, year),
                _at(year, 3, 1, 10, 60 * _province_rank(units, province_code)),
            ))
    for unit in selected if "production_bases" in kinds else ():
        if not model.reports_bases(seed, unit):
            continue
        city = units.city_of(unit.unit_code)
        for year in years:
            rng = model.rng_for(seed, "style", unit.unit_code, year)
            style = render.base_style(rng, plan.place(unit.unit_code), year)
            ext = ".xlsx" if style.fmt == "xlsx" else ".csv"
            plan.files.append(PlannedFile(
                "production_bases", f"{unit.unit_code}_{year}{ext}", unit.unit_code, str(year),
                model.base_snapshot(seed, unit, city, year), style, _at(year, 12, 20, 9, 2 * rank[unit.unit_code]),
            ))
    if bad:
        bad_cases.apply(plan)
    for f in plan.files:  # leaving Q4 out is only harmless while every Q4 of the file is 0
        if "score_q4" in f.style.omit and any(getattr(r, "score_q4", None) for r in f.records):
            f.style = replace(f.style, omit=tuple(c for c in f.style.omit if c != "score_q4"))
    return plan


# ---------------------------------------------------------------- writing


def _write(landing: Path, planned: list[PlannedFile]) -> dict[int, bytes]:
    contents: dict[int, bytes] = {}
    for f in sorted(planned, key=lambda f: f.copy_of is not None):  # originals before their copies
        if f.copy_of is not None:
            data = contents[id(f.copy_of)]
        elif f.content is not None:
            data = f.content
        else:
            data = render.render(f.kind, f.records, f.style)
        contents[id(f)] = data
        path = landing / f.kind / f.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stamp = f.received_at.timestamp()
        os.utime(path, (stamp, stamp))
    return contents


def _describe(f: PlannedFile, data: bytes) -> GeneratedFile:
    rendered = f.content is None and f.copy_of is None  # rows a reader would find (when it can read it)
    row_reasons = {}
    if f.outcome in ("loaded", "superseded"):
        row_reasons = {f.style.first_data_row + i: list(r.quarantine)
                       for i, r in enumerate(f.records) if r.quarantine}
    summary_rows = int(f.style.totals) + int(f.style.note is not None) if rendered else 0
    return GeneratedFile(
        path=f"{f.kind}/{f.name}", kind=f.kind, unit_code=f.unit_code, period=f.period,
        expected_outcome=f.outcome, expected_quarantined_rows=sorted(row_reasons),
        expected_reasons=list(dict.fromkeys(f.reasons + [r for rs in row_reasons.values() for r in rs])),
        expected_row_reasons=row_reasons, expected_warnings=list(f.warnings), received_at=f.received_at,
        data_rows=len(f.records) if rendered else 0, summary_rows=summary_rows,
        sha256=hashlib.sha256(data).hexdigest(), case=f.case, extra=f.extra,
    )


# ---------------------------------------------------------------- truth frames


def _float(value):
    return None if value is None else float(value)


def _building_truth(f: PlannedFile, row: int, b: model.Building, units: UnitList) -> dict:
    omitted = set(f.style.omit)

    def kept(name, default=None):
        return default if name in omitted else getattr(b, name)

    q4 = kept("score_q4") or 0.0
    recognised = model.is_recognised(b.score_q1, b.score_q2, b.score_q3, q4, b.full_decoration)
    computed = model.assembly_rate(b.score_q1, b.score_q2, b.score_q3, q4)
    return {
        "unit_code": units.resolve(b.unit_code), "period": b.period, "project_code": b.project_code,
        "project_name": b.project_name, "building_no": b.building_no, "permit_no": kept("permit_no"),
        "start_date": b.start_date, "building_use": b.building_use, "structure_system": b.structure_system,
        "total_floor_area_m2": float(b.total_floor_area_m2), "prefab_floor_area_m2": float(b.prefab_floor_area_m2),
        "score_q1": b.score_q1, "score_q2": b.score_q2, "score_q3": b.score_q3, "score_q4": float(q4),
        "assembly_rate_pct": kept("assembly_rate_pct"),
        "evaluation_standard": kept("evaluation_standard") or DEFAULT_EVALUATION_STANDARD,
        "full_decoration": b.full_decoration, "green_star": kept("green_star", "none"),
        "developer": kept("developer"), "remarks": kept("remarks"),
        "file_name": f.name, "source_row": row, "received_at": f.received_at,
        "computed_assembly_rate_pct": computed, "recognised": recognised,
        "grade": model.grade(computed, recognised),
    }


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns).reset_index(drop=True)


def truth_frames(plan: Plan) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    loaded = sorted((f for f in plan.files if f.outcome == "loaded"), key=lambda f: (f.received_at, f.name))
    buildings: dict[tuple[str, str], dict] = {}  # latest received wins
    targets, bases = [], []
    for f in loaded:
        for i, rec in enumerate(f.records):
            if rec.quarantine:
                continue
            row = f.style.first_data_row + i
            if f.kind == "buildings":
                buildings.pop((rec.project_code, rec.building_no), None)
                buildings[(rec.project_code, rec.building_no)] = _building_truth(f, row, rec, plan.units)
            elif f.kind == "targets":
                targets.append({
                    "unit_code": plan.units.resolve(rec.unit_code), "year": rec.year,
                    "target_prefab_floor_area_m2": float(rec.target_prefab_floor_area_m2),
                    "target_res_pub_floor_area_m2": _float(rec.target_res_pub_floor_area_m2),
                    "target_prefab_share_pct": rec.target_prefab_share_pct,
                    "file_name": f.name, "source_row": row,
                })
            else:
                bases.append({
                    "unit_code": plan.units.resolve(rec.unit_code), "base_name": rec.base_name,
                    "base_type": rec.base_type, "design_capacity": _float(rec.design_capacity),
                    "capacity_unit": rec.capacity_unit, "commissioned_on": rec.commissioned_on,
                    "status": rec.status, "year": int(f.period), "file_name": f.name, "source_row": row,
                })
    extra = ["file_name", "source_row", "received_at", "computed_assembly_rate_pct", "recognised", "grade"]
    b_frame = _frame(sorted(buildings.values(), key=lambda r: (r["unit_code"], r["period"], r["source_row"])),
                     field_names("buildings") + extra)
    t_frame = _frame(targets, field_names("targets") + ["file_name", "source_row"])
    p_frame = _frame(bases, field_names("production_bases") + ["year", "file_name", "source_row"])
    return b_frame, t_frame, p_frame


def _rate_warnings(f: PlannedFile) -> None:
    """A reported assembly rate more than 1 point from the computed one is a warning for the steward."""
    if f.kind != "buildings" or "assembly_rate_pct" in f.style.omit or f.outcome != "loaded":
        return
    for r in f.records:
        if r.quarantine or r.assembly_rate_pct is None or r.computed_rate is None:
            continue
        if abs(r.assembly_rate_pct - r.computed_rate) > 1 and "assembly_rate" not in f.warnings:
            f.warnings.append("assembly_rate")


# ---------------------------------------------------------------- entry points


def write_plan(landing: Path, plan: Plan) -> list[GeneratedFile]:
    """Write the planned files into `landing` (with their mtimes) and describe them in order of receipt."""
    for f in plan.files:
        _rate_warnings(f)
    contents = _write(Path(landing), plan.files)
    return sorted((_describe(f, contents[id(f)]) for f in plan.files), key=lambda g: (g.received_at, g.path))


def generate(landing: Path, *, seed: int = 42, years: tuple[int, ...] = (2020, 2021), units: str = "all",
             buildings_per_month: int | None = None, bad: bool = True, clean: bool = False,
             unit_list: UnitList | None = None) -> GeneratedLandingZone:
    """Write a sample landing zone into `landing` and return what a correct pipeline must make of it.

    `units`: "jiaxing", "shanxi", "all" or comma-separated county-level codes. `buildings_per_month` fixes
    the number of buildings of every non-zero report. `bad=False` leaves out every deliberately bad input
    (and the assembly-rate mismatches). `clean` first deletes the files of the three kind folders.
    """
    landing = Path(landing)
    unit_list = unit_list or load_units()
    if clean:
        for kind in KINDS:
            for path in sorted((landing / kind).glob("*")):
                if path.is_file():
                    path.unlink()
    plan = plan_landing(seed, tuple(years), units, buildings_per_month, bad, unit_list)
    files = write_plan(landing, plan)
    b_frame, t_frame, p_frame = truth_frames(plan)
    return GeneratedLandingZone(landing, seed, tuple(years), [u.unit_code for u in plan.selected], files,
                                b_frame, t_frame, p_frame)
