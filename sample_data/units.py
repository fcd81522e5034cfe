"""The reporting units as the generator uses them (read through `foundation.units`, from the dbt seed of the
configured dbt project, or from any list in the seed's format)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from foundation.config import settings
from foundation.units import read_units

PROVINCES = {"jiaxing": "330000", "shanxi": "140000"}


@dataclass(frozen=True)
class Unit:
    code: str
    name_zh: str
    name_en: str
    level: str  # province | city | county | zone
    parent_code: str | None
    valid_from: date
    valid_to: date | None  # None while current
    successor_code: str | None

    @property
    def province_code(self) -> str:
        return self.code[:2] + "0000"

    @property
    def current(self) -> bool:
        return self.valid_to is None

    @property
    def reports_like_county(self) -> bool:
        return self.level in ("county", "zone")

    @property
    def short_name(self) -> str:
        """南湖区 -> 南湖, 嘉兴经济技术开发区 -> 嘉兴经开, 城区 stays 城区 (too short to cut)."""
        name = self.name_zh
        if "经济技术开发区" in name:
            return name.split("经济技术开发区")[0] + "经开"
        if len(name) > 2 and name[-1] in "区县市":
            return name[:-1]
        return name


class UnitList:
    def __init__(self, units: list[Unit]):
        self.by_code = {u.code: u for u in units}
        self.units = sorted(units, key=lambda u: u.code)

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
                picked = [u for u in self.units if u.province_code == "140000"]
            elif token in self.by_code and self.by_code[token].reports_like_county:
                picked = [self.by_code[token]]
            else:
                raise ValueError(f"unknown county-level unit or selector: {token!r}")
            for unit in picked:
                if unit.reports_like_county and unit.current:
                    chosen[unit.code] = unit
        if not chosen:
            raise ValueError(f"no current county-level unit selected by {selector!r}")
        return sorted(chosen.values(), key=lambda u: u.code)

    def retired_predecessors(self, code: str) -> list[Unit]:
        return [u for u in self.units if not u.current and u.reports_like_county and self.resolve(u.code) == code]


def load_units(path: Path | None = None) -> UnitList:
    """The generator's view of the reference list read by `foundation.units` (one reader of the seed)."""
    return UnitList([
        Unit(code=u.unit_code, name_zh=u.unit_name_zh, name_en=u.unit_name_en, level=u.unit_level,
             parent_code=u.parent_code, valid_from=u.valid_from, valid_to=u.valid_to, successor_code=u.successor_code)
        for u in read_units(path or settings().reporting_units_path)
    ])
