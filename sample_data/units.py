"""The reporting units as the generator uses them: `foundation.units.Unit` rows (read by `foundation.units`, from
the dbt seed of the configured dbt project, or from any list in the seed's format), with the lookups the generator
needs (province, county-level, short name, successors)."""

from __future__ import annotations

from pathlib import Path

from foundation.config import settings
from foundation.units import Unit, read_units

PROVINCES = {"jiaxing": "330000", "shanxi": "140000"}


def province_code_of(unit: Unit) -> str:
    return unit.unit_code[:2] + "0000"


def reports_like_county(unit: Unit) -> bool:
    return unit.unit_level in ("county", "zone")


def short_name(unit: Unit) -> str:
    """南湖区 -> 南湖, 嘉兴经济技术开发区 -> 嘉兴经开, 城区 stays 城区 (too short to cut)."""
    name = unit.unit_name_zh
    if "经济技术开发区" in name:
        return name.split("经济技术开发区")[0] + "经开"
    if len(name) > 2 and name[-1] in "区县市":
        return name[:-1]
    return name


class UnitList:
    def __init__(self, units: list[Unit]):
        self.by_code = {u.unit_code: u for u in units}
        self.units = sorted(units, key=lambda u: u.unit_code)

    def __getitem__(self, code: str) -> Unit:
        return self.by_code[code]

    def __contains__(self, code: str) -> bool:
        return code in self.by_code

    def resolve(self, code: str) -> str:
        """The current code of a unit: follows successor codes of retired units."""
        seen = set()
        while code in self.by_code and self.by_code[code].successor_code and code not in seen:
            seen.add(code)
            code = self.by_code[code].successor_code
        return code

    def city_of(self, code: str) -> Unit | None:
        parent = self.by_code[code].parent_code
        return self.by_code.get(parent) if parent else None

    def reporting_units(self, selector: str) -> list[Unit]:
        """Current county-level units and zones chosen by `jiaxing`, `shanxi`, `all` (every one of the list) or
        comma-separated codes (names may be mixed with codes: `jiaxing,140105`)."""
        chosen: dict[str, Unit] = {}
        for token in (t.strip() for t in selector.split(",")):
            if not token:
                continue
            if token == "all":
                picked = self.units
            elif token == "jiaxing":
                picked = [u for u in self.units if u.parent_code == "330400"]
            elif token == "shanxi":
                picked = [u for u in self.units if province_code_of(u) == "140000"]
            elif token in self.by_code and reports_like_county(self.by_code[token]):
                picked = [self.by_code[token]]
            else:
                raise ValueError(f"unknown county-level unit or selector: {token!r}")
            for unit in picked:
                if reports_like_county(unit) and unit.is_current:
                    chosen[unit.unit_code] = unit
        if not chosen:
            raise ValueError(f"no current county-level unit selected by {selector!r}")
        return sorted(chosen.values(), key=lambda u: u.unit_code)

    def retired_predecessors(self, code: str) -> list[Unit]:
        return [u for u in self.units
                if not u.is_current and reports_like_county(u) and self.resolve(u.unit_code) == code]


def load_units(path: Path | None = None) -> UnitList:
    """The generator's view of the reference list read by `foundation.units` (one reader of the seed, one Unit)."""
    return UnitList(read_units(path or settings().reporting_units_path))
