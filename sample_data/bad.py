"""The deliberately bad inputs of the sample landing zone. Each case spoils a regular file of the plan, or
adds one, and records what a correct pipeline must make of it (outcome, quarantined rows, warnings).

Reason keywords are advisory (the pipeline words its reasons its own way):
- file level: `file_name`, `unknown_unit`, `missing_column`, `unreadable`, `duplicate`;
- row level: the field at fault (`prefab_floor_area_m2`, `start_date`, `building_use`, `total_floor_area_m2`,
  `score_q1`, `unit_code`) or `duplicate_key` (both rows sharing a (project_code, building_no) in a file);
- warnings: `retired_code`, `reported_again`, `totals_mismatch` (and `assembly_rate`, set by `landing`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import PurePath

from foundation.units import Unit

from . import model, render
from .plan import Plan, PlannedFile
from .units import reports_like_county

PLACEHOLDER = Unit(unit_code="000000", unit_name_zh="某某县", unit_name_en="Placeholder County", unit_level="county",
                   parent_code=None, gbt2260_code=None, valid_from=date(1980, 1, 1), valid_to=None, successor_code=None)


class Hosts:
    """Regular buildings files handed out as hosts of bad cases, each at most once, at random."""

    def __init__(self, plan: Plan, rng):
        self.plan, self.rng, self.used = plan, rng, set()
        self.regular = [f for f in plan.files if f.kind == "buildings" and not f.extra]

    def take(self, min_rows: int = 1, keep_free: bool = False, where=None) -> PlannedFile | None:
        candidates = [f for f in self.regular if id(f) not in self.used and len(f.records) >= min_rows
                      and (where is None or where(f))]
        if not candidates:
            return None
        host = self.rng.choice(candidates)
        if not keep_free:
            self.used.add(id(host))
        return host


def _fresh(plan: Plan, rng, host: PlannedFile, n: int = 1, unit: Unit | None = None) -> list[model.Building]:
    """New buildings (one project) for the host's unit and month."""
    unit = unit or plan.units[host.unit_code]
    used = plan.used_codes.setdefault(unit.unit_code, set())
    return model.new_project(rng, unit, plan.units.city_of(unit.unit_code) if unit.unit_code in plan.units else None,
                             host.period, n, used, rate_mismatches=False)


def _fresh_prefab(plan: Plan, rng, host: PlannedFile) -> model.Building:
    """A new building with a prefab structure (scores present)."""
    while (b := _fresh(plan, rng, host)[0]).structure_system == "cast_in_place":
        pass
    return b


def _with_ext(name: str, ext: str) -> str:
    return str(PurePath(name).with_suffix(ext))


# ---------------------------------------------------------------- whole files


def misnamed_file(plan: Plan, rng, hosts: Hosts) -> None:
    """330402-202005.csv: the name does not follow <unit>_<YYYY-MM>[_text] -> rejected."""
    host = hosts.take(min_rows=0, keep_free=True)
    if host is None:
        return
    plan.files.append(PlannedFile(
        "buildings", f"{host.unit_code}-{host.period.replace('-', '')}.csv", None, host.period,
        _fresh(plan, rng, host, 3), render.Style(), host.received_at + timedelta(hours=1),
        outcome="rejected", reasons=["file_name"], case="misnamed_file", extra=True))


def placeholder_unit(plan: Plan, rng, hosts: Hosts) -> None:
    """000000_<period>.csv, rows saying 000000 too: an unknown unit -> rejected."""
    host = hosts.take(min_rows=0, keep_free=True)
    if host is None:
        return
    plan.files.append(PlannedFile(
        "buildings", f"000000_{host.period}.csv", "000000", host.period,
        _fresh(plan, rng, host, 3, unit=PLACEHOLDER), render.Style(), host.received_at + timedelta(hours=1),
        outcome="rejected", reasons=["unknown_unit"], case="placeholder_unit", extra=True))


def missing_column(plan: Plan, rng, hosts: Hosts) -> None:
    """A unit's month without the required 开工日期 column -> rejected; the month has no data."""
    host = hosts.take(min_rows=1)
    if host is None:
        return
    host.style = replace(host.style, omit=host.style.omit + ("start_date",))
    host.outcome, host.reasons, host.case = "rejected", ["missing_column", "start_date"], "missing_column"


def garbage_xlsx(plan: Plan, rng, hosts: Hosts) -> None:
    """A unit's month as random bytes named .xlsx -> rejected; the month has no data."""
    host = hosts.take(min_rows=1)
    if host is None:
        return
    host.name = _with_ext(host.name, ".xlsx")
    host.content = b"\x00\x01" + rng.randbytes(4094)
    host.outcome, host.reasons, host.case = "rejected", ["unreadable"], "garbage_xlsx"


def gbk_file(plan: Plan, rng, hosts: Hosts) -> None:
    """A valid GBK-encoded CSV (the style already makes a quarter of the CSVs GBK; this one for sure)."""
    host = hosts.take(min_rows=1)
    if host is None:
        return
    host.name = _with_ext(host.name, ".csv")
    host.style = replace(host.style, fmt="csv", encoding="gbk", area_suffix="(平方米)", wan_suffix="(万平方米)")
    host.case = "gbk_file"


def correction(plan: Plan, rng, hosts: Hosts) -> None:
    """<unit>_<month>_更正.csv ten days after the original: one area changed, one building withdrawn (if it had
    several), one added. The original is superseded; the correction is loaded."""
    host = hosts.take(min_rows=1)
    if host is None:
        return
    records = [replace(r, raw=dict(r.raw)) for r in host.records]
    changed = records[0]
    if changed.prefab_floor_area_m2 == changed.total_floor_area_m2:
        changed.prefab_floor_area_m2 += Decimal("1234.56")
    changed.total_floor_area_m2 += Decimal("1234.56")
    if len(records) > 1:
        records.pop()
    records += _fresh(plan, rng, host, 1)
    plan.files.append(PlannedFile(
        "buildings", f"{host.unit_code}_{host.period}_更正.csv", host.unit_code, host.period, records,
        replace(host.style, fmt="csv"), host.received_at + timedelta(days=10), case="correction", extra=True))
    host.outcome, host.case = "superseded", "corrected_original"


def duplicate_copy(plan: Plan, rng, hosts: Hosts) -> None:
    """A byte-identical copy of a file under another free text, two days later -> duplicate, not loaded."""
    host = hosts.take(min_rows=1)
    if host is None:
        return
    stem = host.name.split("_")[0] + "_" + host.period
    plan.files.append(PlannedFile(
        "buildings", f"{stem}_重复报送{PurePath(host.name).suffix}", host.unit_code, host.period, host.records,
        host.style, host.received_at + timedelta(days=2), outcome="duplicate", reasons=["duplicate"],
        copy_of=host, case="duplicate_copy", extra=True))
    host.case = "duplicated_original"


# ---------------------------------------------------------------- bad rows in readable files


def _prefab_over_total(plan, rng, host):
    b = _fresh_prefab(plan, rng, host)
    b.prefab_floor_area_m2 = b.total_floor_area_m2 + Decimal("850.00")
    b.quarantine = ("prefab_floor_area_m2",)
    return [b]


def _start_outside_month(plan, rng, host):
    b = _fresh(plan, rng, host)[0]
    b.start_date = model.month_bounds(host.period)[0] - timedelta(days=rng.randint(3, 40))
    b.quarantine = ("start_date",)
    return [b]


def _unknown_use(plan, rng, host):
    b = _fresh(plan, rng, host)[0]
    b.raw["building_use"] = "住宅楼x"
    b.quarantine = ("building_use",)
    return [b]


def _non_numeric_area(plan, rng, host):
    b = _fresh(plan, rng, host)[0]
    b.raw["total_floor_area_m2"] = "12a"
    b.quarantine = ("total_floor_area_m2",)
    return [b]


def _q1_out_of_range(plan, rng, host):
    b = _fresh_prefab(plan, rng, host)
    b.score_q1 = 60.0
    b.quarantine = ("score_q1",)
    return [b]


def _duplicate_key(plan, rng, host):
    """Two rows with one (project_code, building_no) and different areas: both are quarantined."""
    first = _fresh(plan, rng, host)[0]
    second = replace(first, raw={}, total_floor_area_m2=first.total_floor_area_m2 + Decimal("500.00"))
    first.quarantine = second.quarantine = ("duplicate_key",)
    return [first, second]


def _foreign_unit(plan, rng, host):
    """A row carrying a neighbouring unit's code."""
    city = plan.units[host.unit_code].parent_code
    siblings = [u.unit_code for u in plan.units.units
                if u.parent_code == city and u.is_current and reports_like_county(u) and u.unit_code != host.unit_code]
    b = _fresh(plan, rng, host)[0]
    b.unit_code = siblings[0] if siblings else "330402"
    b.quarantine = ("unit_code",)
    return [b]


BAD_ROW_FILES = (
    (_prefab_over_total, _start_outside_month, _unknown_use),
    (_non_numeric_area, _q1_out_of_range),
    (_duplicate_key, _foreign_unit),
)


def bad_rows(plan: Plan, rng, hosts: Hosts) -> None:
    """Three readable files, each with a few bad rows among good ones: the bad rows are quarantined."""
    for spoilers in BAD_ROW_FILES:
        host = hosts.take(min_rows=1)
        if host is None:
            return
        host.style = replace(host.style, totals=False)  # keep totals unambiguous: none where rows are bad
        for spoil in spoilers:
            for row in spoil(plan, rng, host):
                host.records.insert(rng.randint(0, len(host.records)), row)
        host.case = "bad_rows"


# ---------------------------------------------------------------- warnings


def retired_code(plan: Plan, rng, hosts: Hosts) -> None:
    """A unit reporting under its retired code (140421 长治县 for 140404 上党区): loaded under the successor,
    with a warning. The host is the unit's first month with buildings."""
    pairs = [(old, unit) for unit in plan.selected for old in plan.units.retired_predecessors(unit.unit_code)]
    if not pairs:
        return
    old, unit = next(((o, u) for o, u in pairs if o.unit_code == "140421"), pairs[0])
    months = [f for f in hosts.regular if f.unit_code == unit.unit_code and f.records and id(f) not in hosts.used]
    if not months:
        return
    host = months[0]
    hosts.used.add(id(host))
    for r in host.records:
        r.unit_code = old.unit_code
    if host.style.title:
        title = host.style.title.replace(plan.place(unit.unit_code), plan.place(old.unit_code))
        host.style = replace(host.style, title=title)
    host.name = old.unit_code + host.name[len(unit.unit_code):]
    host.unit_code = old.unit_code
    host.warnings.append("retired_code")
    host.case = "retired_code"


def reported_again(plan: Plan, rng, hosts: Hosts) -> None:
    """A building of month M reported again (same project_code and building_no, a start date in M+2) in
    the unit's file two months later: both files load; the building counts once, from the later file."""
    by_key = {(f.unit_code, f.period): f for f in hosts.regular}

    def later(f):
        i = plan.periods.index(f.period)
        return by_key.get((f.unit_code, plan.periods[i + 2])) if i + 2 < len(plan.periods) else None

    first = hosts.take(min_rows=1, where=lambda f: later(f) is not None and id(later(f)) not in hosts.used)
    if first is None:
        return
    second = later(first)
    hosts.used.add(id(second))
    building = first.records[-1]
    start, end = model.month_bounds(second.period)
    again = replace(building, raw=dict(building.raw), period=second.period,
                    start_date=start.replace(day=min(building.start_date.day, end.day)))
    second.records.append(again)
    first.case, second.case = "reported_earlier", "reported_again"
    second.warnings.append("reported_again")


def wrong_totals(plan: Plan, rng, hosts: Hosts) -> None:
    """A 合计 row 100 m² off the sum of the rows: loaded, with a warning."""
    host = hosts.take(min_rows=1)
    if host is None:
        return
    host.style = replace(host.style, totals=True, totals_error=Decimal("100.00"))
    host.warnings.append("totals_mismatch")
    host.case = "wrong_totals"


CASES = (misnamed_file, placeholder_unit, retired_code, missing_column, garbage_xlsx, gbk_file, correction,
         duplicate_copy, bad_rows, reported_again, wrong_totals)


def apply(plan: Plan) -> None:
    rng = model.rng_for(plan.seed, "bad")
    hosts = Hosts(plan, rng)
    for case in CASES:
        case(plan, rng, hosts)
